package check

import (
	"os"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// The Pods of a List are each evaluated.
func TestPodInAList(t *testing.T) {
	b, err := os.ReadFile("testdata/pod-list.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := input.Parse("pod-list.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.NewEngine(policy.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	results, _, err := Objects(e, objs, Options{AllPods: true, Config: config.Default()})
	if err != nil || len(results) != 1 {
		t.Fatalf("Objects = %d results, %v", len(results), err)
	}
	r := results[0]
	if r.Allowed || len(r.Violations) != 1 || r.Violations[0].Rule != policy.NoHostNetworkID || r.Violations[0].Field != "spec.hostNetwork" {
		t.Errorf("want one denial no-host-network at spec.hostNetwork, got %+v", r)
	}
}
