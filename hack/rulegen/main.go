// Command rulegen writes what is derived from policy.Rules: the README's rule
// table and internal/apis/v1alpha1's RuleID enum (controller-gen then puts it
// in the CRD). `make generate` runs it first.
package main

import (
	"fmt"
	"os"

	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/ruledoc"
)

func main() {
	if err := ruledoc.Write(policy.Rules); err != nil {
		fmt.Fprintln(os.Stderr, "rulegen:", err)
		os.Exit(1)
	}
}
