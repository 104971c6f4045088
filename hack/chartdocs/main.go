// Command chartdocs writes charts/kestra-guard/README.md from the chart's
// values.yaml comments and README.md.gotmpl (`make chart-docs`).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kestra-guard/kestra-guard/internal/chart"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chartdocs:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := chart.Dir()
	tmpl, err := os.ReadFile(filepath.Join(dir, "README.md.gotmpl"))
	if err != nil {
		return err
	}
	values, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return err
	}
	out, err := chart.README(tmpl, values)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), out, 0o644)
}
