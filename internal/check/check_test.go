package check

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/config/configtest"
	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/report"
)

// compiled is the default configuration, compiled as the commands compile it.
func compiled(t testing.TB) *config.Compiled { return configtest.Compiled(t) }

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
	results, _ := Objects(compiled(t), objs, Options{AllPods: true})
	if len(results) != 1 {
		t.Fatalf("Objects = %d results", len(results))
	}
	r := results[0]
	if r.Allowed || len(r.Violations) != 1 || r.Violations[0].Rule != policy.NoHostNetworkID || r.Violations[0].Field != "spec.hostNetwork" {
		t.Errorf("want one denial no-host-network at spec.hostNetwork, got %+v", r)
	}
}

// workload writes an object of kind whose Pod (or Pod template, nested
// under the keys of nest) sets hostPID and a privileged container.
func workload(apiVersion, kind string, nest ...string) string {
	const labels = "labels: {kestra.io/namespace: company.team, kestra.io/flow-id: legacy-load}"
	doc := "apiVersion: " + apiVersion + "\nkind: " + kind + "\n"
	if len(nest) == 0 {
		doc += "metadata: {name: w, namespace: kestra, " + labels + "}\n"
	} else {
		doc += "metadata: {name: w, namespace: kestra}\n"
	}
	indent := ""
	for _, k := range nest {
		doc += indent + k + ":\n"
		indent += "  "
	}
	if len(nest) > 0 {
		doc += indent + "metadata: {" + labels + "}\n"
	}
	return doc + indent + "spec:\n" +
		indent + "  hostPID: true\n" +
		indent + "  containers:\n" +
		indent + "  - name: c\n" +
		indent + "    image: busybox\n" +
		indent + "    securityContext: {privileged: true}\n"
}

// waivePrivileged waives no-privileged for the workloads above.
const waivePrivileged = `---
apiVersion: kestra-guard.io/v1alpha1
kind: PolicyException
metadata: {name: priv, namespace: kestra}
spec:
  rules: [no-privileged]
  reason: a test
  owner: team-data
  match: {flowId: {exact: legacy-load}}
`

// A finding in a workload's Pod template names the field by its path in
// the workload as written (spec.template.spec.hostPID in a Deployment),
// in every output format, and is located on the line that writes it.
func TestFieldPathsFollowTheKind(t *testing.T) {
	c := compiled(t)
	for _, tc := range []struct {
		doc      string
		template string // path of the Pod (template) in the object
		line     int    // of hostPID
	}{
		{workload("v1", "Pod"), "", 5},
		{workload("apps/v1", "Deployment", "spec", "template"), "spec.template.", 8},
		{workload("apps/v1", "StatefulSet", "spec", "template"), "spec.template.", 8},
		{workload("apps/v1", "DaemonSet", "spec", "template"), "spec.template.", 8},
		{workload("apps/v1", "ReplicaSet", "spec", "template"), "spec.template.", 8},
		{workload("batch/v1", "Job", "spec", "template"), "spec.template.", 8},
		{workload("batch/v1", "CronJob", "spec", "jobTemplate", "spec", "template"), "spec.jobTemplate.spec.template.", 10},
	} {
		objs, err := input.Parse("w.yaml", []byte(tc.doc+waivePrivileged))
		if err != nil {
			t.Fatal(err)
		}
		kind := objs[0].Kind
		t.Run(kind, func(t *testing.T) {
			results, _ := Objects(c, objs, Options{AllPods: true})
			if len(results) != 1 {
				t.Fatalf("Objects = %+v", results)
			}
			r := results[0]
			hostPID := tc.template + "spec.hostPID"
			i := slices.IndexFunc(r.Violations, func(v policy.Violation) bool { return v.Rule == policy.NoHostNamespacesID })
			if i < 0 || r.Violations[i].Field != hostPID || r.LineOf(i) != tc.line {
				t.Errorf("want no-host-namespaces at %s on line %d; got %+v, lines %v", hostPID, tc.line, r.Violations, r.Lines)
			}
			privileged := tc.template + "spec.containers[0].securityContext.privileged"
			if len(r.Waived) != 1 || r.Waived[0].Field != privileged {
				t.Errorf("want no-privileged waived at %s; got %+v", privileged, r.Waived)
			}
			if set := tc.template + "spec.automountServiceAccountToken=false"; !slices.Contains(r.Mutations, set) {
				t.Errorf("want the mutation %s; got %q", set, r.Mutations)
			}
			rep := report.Report{Results: results}
			var text, js bytes.Buffer
			if err := report.Text(&text, rep); err != nil {
				t.Fatal(err)
			}
			if err := report.JSON(&js, rep); err != nil {
				t.Fatal(err)
			}
			sarif, err := report.SARIF(rep, "test", func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			junit, err := report.JUnit(rep)
			if err != nil {
				t.Fatal(err)
			}
			for format, want := range map[string][]string{
				"text": {fmt.Sprintf("w.yaml:%d: %s kestra/w: no-host-namespaces: %s: ", tc.line, kind, hostPID),
					"no-privileged: " + privileged + ": waived by", "would set " + tc.template + "spec.securityContext.runAsNonRoot=true"},
				"json":  {`"field": "` + hostPID + `"`, `"field": "` + privileged + `"`},
				"sarif": {kind + " kestra/w: " + hostPID + ": ", kind + " kestra/w: " + privileged + ": waived", fmt.Sprintf(`"startLine": %d`, tc.line)},
				"junit": {"no-host-namespaces: " + hostPID + ": ", "no-privileged: " + privileged + ": waived"},
			} {
				out := map[string]string{"text": text.String(), "json": js.String(), "sarif": string(sarif), "junit": string(junit)}[format]
				for _, w := range want {
					if !strings.Contains(out, w) {
						t.Errorf("%s output lacks %q:\n%s", format, w, out)
					}
				}
			}
		})
	}
}
