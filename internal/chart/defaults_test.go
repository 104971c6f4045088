package chart

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/config"
)

// The chart's values.yaml repeats the Go defaults (config.Default): an
// install with no values runs with the configuration `kestra-guard check`
// and `audit` assume when given none. Only what the chart sets by design
// differs, listed here.
func TestValuesDefaultsAgreeWithGo(t *testing.T) {
	out, err := ConfigFromValues(nil, "kestra-guard")
	if err != nil {
		t.Fatal(err)
	}
	got, err := config.Parse(out, "the chart's config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	// The Secret is mounted at /certs in the chart; out of a cluster the
	// default is controller-runtime's folder.
	want.Server.CertDir = "/certs"
	// The chart names the Service and the Secret after the release.
	want.Server.ServiceName, want.Server.CertSecret = "kestra-guard", "kestra-guard-cert"
	// The chart turns the start gate on, with its own image (Go has no
	// image to give it).
	ch, err := load()
	if err != nil {
		t.Fatal(err)
	}
	want.Policy.StartGate.Enabled, want.Policy.StartGate.Image = true, "ghcr.io/kestra-guard/kestra-guard:"+ch.Metadata.AppVersion
	if reflect.DeepEqual(got, want) {
		return
	}
	var g, w map[string]any
	for _, c := range []struct {
		cfg config.Config
		m   *map[string]any
	}{{got, &g}, {want, &w}} {
		b, _ := json.Marshal(c.cfg)
		_ = json.Unmarshal(b, c.m)
	}
	diff(t, "", g, w)
}

// diff reports every path where the chart's value differs from Go's.
func diff(t *testing.T, path string, got, want any) {
	t.Helper()
	gm, gok := got.(map[string]any)
	wm, wok := want.(map[string]any)
	if !gok || !wok {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the chart gives %v, config.Default %v", path, got, want)
		}
		return
	}
	for k := range wm {
		diff(t, path+"."+k, gm[k], wm[k])
	}
	for k := range gm {
		if _, ok := wm[k]; !ok {
			t.Errorf("%s.%s: the chart gives %v, config.Default nothing", path, k, gm[k])
		}
	}
}
