// Command chartpackage writes dist/kestra-guard-<version>.tgz, the chart as
// `helm package` makes it, with Helm's own library (`make chart-package`).
package main

import (
	"fmt"
	"os"

	"github.com/kestra-guard/kestra-guard/internal/chart"
)

func main() {
	dir := "dist"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "chartpackage:", err)
		os.Exit(1)
	}
	out, err := chart.Package(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chartpackage:", err)
		os.Exit(1)
	}
	fmt.Println(out)
}
