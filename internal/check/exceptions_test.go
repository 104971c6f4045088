package check

import (
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/input"
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
	c := compiled(t)
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
			rs, _ := Objects(c, objs, Options{AllPods: true})
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

// A malformed exception next to a valid one: the bad one is an input error
// naming its file, line and field; the valid one still applies.
func TestMalformedExceptionNextToValid(t *testing.T) {
	c := compiled(t)
	bad := strings.Replace(exceptionDoc, "name: pip,", "name: pip-typo,", 1) + "  expires: \"2030-01-01t00:00:00z\"\n"
	docs := writablePod + "---\n" + bad + "---\n" + exceptionDoc
	objs, perr := input.Parse("in.yaml", []byte(docs))
	if perr == nil {
		t.Fatal("the malformed exception was read without error")
	}
	want := `in.yaml: document 2 (line 23): PolicyException pip-typo: spec.expires: "2030-01-01t00:00:00z": expected an RFC 3339 time such as 2030-01-01T00:00:00Z (upper-case T and Z)`
	if perr.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", perr, want)
	}
	rs, _ := Objects(c, objs, Options{AllPods: true})
	if len(rs) != 1 || !rs[0].Allowed || len(rs[0].Waived) != 1 || rs[0].Waived[0].Exception.Name != "pip" {
		t.Fatalf("the valid exception does not apply: %+v", rs)
	}
}

// An exception with requestedBy waives nothing offline, and says so.
func TestRequestedByOffline(t *testing.T) {
	c := compiled(t)
	doc := strings.Replace(exceptionDoc, "match: {flowId: {exact: legacy-load}}", "match: {flowId: {exact: legacy-load}, requestedBy: {serviceAccounts: [kestra/kestra-worker]}}", 1)
	objs, err := input.Parse("in.yaml", []byte(writablePod+"---\n"+doc))
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := Objects(c, objs, Options{AllPods: true})
	if len(rs) != 1 || rs[0].Allowed || len(rs[0].Waived) != 0 {
		t.Fatalf("an exception with requestedBy applied offline: %+v", rs)
	}
	want := "PolicyException kestra/pip waives nothing here: it applies only at admission, to Pods requested by service accounts kestra/kestra-worker"
	if !strings.Contains(strings.Join(rs[0].Notes, "\n"), want) {
		t.Errorf("notes %q lack %q", rs[0].Notes, want)
	}
}
