// Package version says which build of kestra-guard runs: the version and
// commit set at link time (-ldflags -X), else read from the Go build info.
package version

import (
	"runtime"
	"runtime/debug"
)

// Set by `make build`: -X .../internal/version.version=v1.2.3 -X .../internal/version.commit=abc.
var (
	version string
	commit  string
)

// Info is one build's identity.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
}

// Get returns the running binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(version, commit, bi)
}

// get prefers the link-time values, then the build info (module version for
// `go install module@version`, vcs.revision for a build in a checkout), and
// says "unknown" rather than leaving a field empty.
func get(v, c string, bi *debug.BuildInfo) Info {
	i := Info{Version: v, Commit: c, GoVersion: runtime.Version()}
	if bi != nil {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && i.Commit == "" {
				i.Commit = s.Value
			}
		}
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
	}
	if i.Version == "" {
		i.Version = "devel"
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}
