// Command manifests writes config/base, the kustomize base for users without
// Helm, rendered from charts/kestra-guard with its default values.
// `make manifests` runs it; a test fails when config/ and the chart drift apart.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

func main() {
	files, err := chart.Kustomize()
	if err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
	base := filepath.Join(framework.RepoRoot(), "config", "base")
	if err := os.MkdirAll(base, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(base, name), data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "manifests:", err)
			os.Exit(1)
		}
	}
}
