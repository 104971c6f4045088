package report

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// JUnit XML as CI test tabs read it (Jenkins, GitLab, the GitHub test
// reporters): a suite per file, a test case per object. A denied object is
// a failure, a skipped one is skipped, an input that cannot be read is an
// error; warnings of an allowed object are its system-out.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	ClassName string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// JUnit writes r as JUnit XML.
func JUnit(r Report) ([]byte, error) {
	all := junitSuites{Name: "kestra-guard check"}
	var order []string
	suites := map[string]*junitSuite{}
	suite := func(file string) *junitSuite {
		if file == "" {
			file = "<stdin>"
		}
		if s, ok := suites[file]; ok {
			return s
		}
		order = append(order, file)
		suites[file] = &junitSuite{Name: file}
		return suites[file]
	}
	name := func(line int, kind, ns, n string) string {
		s := kind + " " + ns + "/" + n
		if kind == "" {
			s = "document"
		}
		if line > 0 {
			s += fmt.Sprintf(" (line %d)", line)
		}
		return s
	}
	for _, res := range r.Results {
		s := suite(res.File)
		c := junitCase{ClassName: s.Name, Name: name(res.Line, res.Kind, res.Namespace, res.Name)}
		var denied, warned []string
		for _, v := range res.Violations {
			line := v.Rule + ": " + v.Field + ": " + v.Reason + " (" + v.Detail + ")"
			if v.Action == policy.Deny {
				denied = append(denied, line)
			} else {
				warned = append(warned, line+" ["+string(v.Action)+"]")
			}
		}
		for _, w := range res.Waived {
			warned = append(warned, w.Rule+": "+w.Field+": waived by "+w.Exception.Describe())
		}
		if !res.Allowed {
			c.Failure = &junitProblem{Message: fmt.Sprintf("would be denied: %d violation(s)", len(denied)), Type: "deny", Text: strings.Join(denied, "\n")}
			s.Failures++
		}
		c.SystemOut = strings.Join(warned, "\n")
		s.Cases = append(s.Cases, c)
	}
	for _, sk := range r.Skipped {
		s := suite(sk.File)
		s.Cases = append(s.Cases, junitCase{ClassName: s.Name, Name: name(sk.Line, sk.Kind, sk.Namespace, sk.Name), Skipped: &junitProblem{Message: sk.Reason}})
		s.Skipped++
	}
	for _, err := range r.Errors {
		file, caseName := "", "input"
		var ie *input.Error
		if errors.As(err, &ie) {
			file = ie.File
			if ie.Doc > 0 {
				caseName = fmt.Sprintf("document %d (line %d)", ie.Doc, ie.Line)
			}
		}
		s := suite(file)
		s.Cases = append(s.Cases, junitCase{ClassName: s.Name, Name: caseName, Error: &junitProblem{Message: "cannot be read", Type: "input", Text: err.Error()}})
		s.Errors++
	}
	for _, f := range order {
		s := suites[f]
		s.Tests = len(s.Cases)
		all.Tests, all.Failures, all.Errors, all.Skipped = all.Tests+s.Tests, all.Failures+s.Failures, all.Errors+s.Errors, all.Skipped+s.Skipped
		all.Suites = append(all.Suites, *s)
	}
	b, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
