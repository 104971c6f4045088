package chart

import (
	"os"
	"path/filepath"
	"testing"
)

// config/base is what the chart renders: regenerate it with `make manifests`.
func TestKustomizeBaseMatchesChart(t *testing.T) {
	files, err := Kustomize()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(Dir(), "..", "..", "config", "base")
	onDisk, _ := filepath.Glob(filepath.Join(base, "*.yaml"))
	if len(onDisk) != len(files) {
		t.Errorf("config/base has %d files, the chart renders %d: run make manifests", len(onDisk), len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(base, name))
		if err != nil || string(got) != string(want) {
			t.Errorf("config/base/%s differs from the chart: run make manifests", name)
		}
	}
}
