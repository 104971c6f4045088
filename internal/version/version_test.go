package version

import (
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	withVCS := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}}}
	installed := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.3.0"}}
	for name, tc := range map[string]struct {
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		"ldflags win":          {"v1.0.0", "deadbeef", withVCS, Info{"v1.0.0", "deadbeef", "go1.26.0"}},
		"checkout build":       {"", "", withVCS, Info{"devel", "abc123", "go1.26.0"}},
		"go install @version":  {"", "", installed, Info{"v0.3.0", "unknown", "go1.26.0"}},
		"no build info at all": {"", "", nil, Info{"devel", "unknown", ""}},
	} {
		t.Run(name, func(t *testing.T) {
			got := get(tc.version, tc.commit, tc.bi)
			if tc.bi == nil {
				tc.want.GoVersion = got.GoVersion // runtime.Version()
			}
			if got != tc.want || got.GoVersion == "" {
				t.Errorf("get = %+v, want %+v", got, tc.want)
			}
		})
	}
}
