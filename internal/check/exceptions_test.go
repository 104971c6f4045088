package check

import (
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

const writablePod = `apiVersion: v1
kind: Pod
metadata:
  name: load
  namespace: kestra
  labels: {kestra.io/namespace: company.team, kestra.io/flow-id: legacy-load}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  automountServiceAccountToken: false
  containers:
    - name: main
      image: python:3.12
      securityContext: {readOnlyRootFilesystem: false, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`

const exceptionDoc = `apiVersion: kestra-guard.io/v1alpha1
kind: PolicyException
metadata: {name: pip, namespace: kestra}
spec:
  rules: [read-only-root-filesystem]
  reason: pip at run time
  owner: team-data
  match: {flowId: {exact: legacy-load}}
`

// check reads PolicyExceptions from its inputs and applies them as the
// webhook does.
func TestObjectsWithExceptions(t *testing.T) {
	e, err := policy.NewEngine(policy.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		docs        string
		wantAllowed bool
		wantWaived  int
		wantNote    string
	}{
		"no exception":            {docs: writablePod, wantAllowed: false},
		"matching exception":      {docs: writablePod + "---\n" + exceptionDoc, wantAllowed: true, wantWaived: 1},
		"exception of another ns": {docs: writablePod + "---\n" + strings.Replace(exceptionDoc, "namespace: kestra", "namespace: other", 1), wantAllowed: false},
		"expired exception": {docs: writablePod + "---\n" + exceptionDoc + "  expires: \"2020-01-01T00:00:00Z\"\n", wantAllowed: false,
			wantNote: "PolicyException kestra/pip expired at 2020-01-01T00:00:00Z and no longer waives read-only-root-filesystem"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs, err := input.Parse("in.yaml", []byte(tc.docs))
			if err != nil {
				t.Fatal(err)
			}
			rs, _, err := Objects(e, objs, Options{AllPods: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 {
				t.Fatalf("results = %+v, want the Pod only", rs)
			}
			r := rs[0]
			if r.Allowed != tc.wantAllowed || len(r.Waived) != tc.wantWaived {
				t.Errorf("allowed = %v, waived = %v; want %v, %d (violations %v)", r.Allowed, r.Waived, tc.wantAllowed, tc.wantWaived, r.Violations)
			}
			if tc.wantNote != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tc.wantNote) {
				t.Errorf("notes %q lack %q", r.Notes, tc.wantNote)
			}
		})
	}
}

// An exception the API server would refuse is an input error naming the field.
func TestInvalidExceptionInput(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"unknown rule": {strings.Replace(exceptionDoc, "read-only-root-filesystem", "everything", 1), `spec.rules[0]: "everything": expected a rule ID`},
		"no reason":    {strings.Replace(exceptionDoc, "reason: pip at run time", "owner2: x", 1), "unknown field"},
		"both":         {strings.Replace(exceptionDoc, "{exact: legacy-load}", "{exact: a, prefix: b}", 1), "spec.match.flowId: set exactly one of exact or prefix"},
		"api version":  {strings.Replace(exceptionDoc, "v1alpha1", "v1", 1), "expected kestra-guard.io/v1alpha1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := input.Parse("in.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
