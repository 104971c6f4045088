package check

import "fmt"

// Report is everything one `check` run found: the decisions, the objects
// skipped and the inputs that could not be read.
type Report struct {
	Results []Result
	Skipped []Skipped
	Errors  []error
}

// Summary counts a Report for the closing line.
type Summary struct {
	Objects    int `json:"objects"`
	Allowed    int `json:"allowed"`
	Denied     int `json:"denied"`
	Skipped    int `json:"skipped"`
	Unreadable int `json:"unreadable"`
}

// Summary counts the objects of r: every result is allowed or denied.
func (r Report) Summary() Summary {
	s := Summary{Skipped: len(r.Skipped), Unreadable: len(r.Errors)}
	for _, res := range r.Results {
		if res.Allowed {
			s.Allowed++
		} else {
			s.Denied++
		}
	}
	s.Objects = s.Allowed + s.Denied + s.Skipped
	return s
}

// String is the closing line of the text output.
func (s Summary) String() string {
	line := fmt.Sprintf("%d objects: %d allowed, %d denied, %d skipped", s.Objects, s.Allowed, s.Denied, s.Skipped)
	if s.Unreadable > 0 {
		line += fmt.Sprintf("; %d inputs cannot be read", s.Unreadable)
	}
	return line
}

// AllAllowed says whether no object would be denied.
func (s Summary) AllAllowed() bool { return s.Denied == 0 }

// Empty says whether there is nothing to summarise.
func (s Summary) Empty() bool { return s.Objects == 0 && s.Unreadable == 0 }
