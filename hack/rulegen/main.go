// Command rulegen writes what is derived from policy.Rules: the README's rule
// table and internal/apis/v1alpha1's RuleID enum (controller-gen then puts it
// in the CRD), and the in-tree policies' CEL in the chart with the README's
// outage table (internal/intree). `make generate` runs it first.
package main

import (
	"fmt"
	"os"

	"github.com/kestra-guard/kestra-guard/internal/intree"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/ruledoc"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

func main() {
	if err := ruledoc.Write(policy.Rules); err != nil {
		fmt.Fprintln(os.Stderr, "rulegen:", err)
		os.Exit(1)
	}
	if err := intree.Write(framework.RepoRoot(), policy.Rules); err != nil {
		fmt.Fprintln(os.Stderr, "rulegen:", err)
		os.Exit(1)
	}
}
