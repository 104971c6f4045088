package server

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kestra-guard/kestra-guard/internal/version"
)

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(BuildInfo(version.Info{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26.0"}))
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "kestra_guard_build_info" || len(mfs[0].Metric) != 1 {
		t.Fatalf("gathered %v, %v", mfs, err)
	}
	m := mfs[0].Metric[0]
	got := map[string]string{}
	for _, l := range m.Label {
		got[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"version": "v1.2.3", "commit": "abc", "go_version": "go1.26.0"}
	if len(got) != len(want) || got["version"] != want["version"] || got["commit"] != want["commit"] || got["go_version"] != want["go_version"] || m.GetGauge().GetValue() != 1 {
		t.Errorf("kestra_guard_build_info %v = %v, want %v = 1", got, m.GetGauge().GetValue(), want)
	}
}
