package input

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const manifests = `# a comment-only document is skipped
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: jobs}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {kestra.io/taskrun-id: x}}
        spec: {hostNetwork: true, containers: [{name: c, image: busybox}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: jobs}
spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
---
id: hello
namespace: company.team
tasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: hi}]
`

func TestParse(t *testing.T) {
	objs, err := Parse("m.yaml", []byte(manifests))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Kind+" "+o.Namespace+"/"+o.Name)
	}
	want := "Pod default/p,CronJob jobs/nightly,NetworkPolicy jobs/deny,ConfigMap default/ignored,Flow company.team/hello"
	if strings.Join(got, ",") != want {
		t.Fatalf("objects = %v, want %s", got, want)
	}
	cron := objs[1]
	if cron.Pod == nil || !cron.Pod.Spec.HostNetwork || cron.Pod.Labels["kestra.io/taskrun-id"] != "x" || cron.Pod.Namespace != "jobs" {
		t.Errorf("the CronJob's Pod template was not read: %+v", cron.Pod)
	}
	if objs[2].Doc != 3 || objs[2].Line != 19 {
		t.Errorf("NetworkPolicy at document %d line %d, want document 3 line 19", objs[2].Doc, objs[2].Line)
	}
}

func TestParseErrorsNameFileDocumentAndLine(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"unknown field":  {"kind: Pod\nmetadata: {name: a}\n---\nkind: Pod\nspec: {containerz: []}\n", `m.yaml: document 2 (line 4): Pod: unknown field "spec.containerz"`},
		"wrong type":     {"kind: Pod\nspec: {hostNetwork: maybe}\n", "m.yaml: document 1 (line 1): Pod:"},
		"not YAML":       {"kind: [\n", "m.yaml: document 1 (line 1): expected YAML or JSON"},
		"bad deployment": {"kind: Deployment\nspec: {template: {spec: {containers: 1}}}\n", "Deployment:"},
		// Go's encoding/json matches keys case-insensitively, so the last of
		// these won and hid hostNetwork: true; the API server and Kestra match
		// case-sensitively.
		"key in another case":   {"kind: Pod\nspec: {hostNetwork: true, hostnetwork: false, containers: [{name: a, image: b}]}\n", `Pod: unknown field "spec.hostnetwork" (keys are case-sensitive`},
		"repeated key":          {"{\"kind\": \"Pod\", \"spec\": {\"hostNetwork\": true, \"hostNetwork\": false}}\n", `key "hostNetwork" already set in map`},
		"bad List item":         {"kind: List\nitems: [{kind: Pod, spec: {hostNetwork: maybe}}]\n", "List: items[0]: Pod:"},
		"List item no kind":     {"kind: List\nitems: [{id: f, namespace: n, tasks: []}]\n", "List: items[0]: expected a Kubernetes object"},
		"KestraFlow no source":  {"kind: KestraFlow\nmetadata: {name: f}\nspec: {}\n", "KestraFlow: spec.source: expected the flow's YAML as a string"},
		"KestraFlow bad source": {"kind: KestraFlow\nspec: {source: \"- a\\n- b\"}\n", "KestraFlow: spec.source: expected a flow"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("m.yaml", []byte(tc.in))
			var ie *Error
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Any input either parses or fails with an Error naming the file; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(manifests))
	f.Add([]byte("kind: Pod\n---\n---\nkind: Deployment\nspec: {template: {}}\n"))
	f.Add([]byte(`{"kind":"Job","spec":{"template":{"spec":{"volumes":[{"hostPath":{"path":"/"}}]}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := Parse("f.yaml", b)
		var ie *Error
		if err != nil && (!errors.As(err, &ie) || ie.File != "f.yaml") {
			t.Fatalf("error %v does not name the file", err)
		}
		for _, o := range objs {
			if o.Skip == "" && (o.Kind == "" || (o.Pod == nil && o.NetworkPolicy == nil && o.Flow == nil && o.Exception == nil)) {
				t.Fatalf("object without content: %+v", o)
			}
		}
	})
}

func TestParseListsAndKestraFlows(t *testing.T) {
	const in = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: x}
  spec: {hostNetwork: true, containers: [{name: c, image: busybox}]}
- apiVersion: v1
  kind: PodList
  items:
  - {apiVersion: v1, kind: Pod, metadata: {name: b}, spec: {containers: [{name: c, image: busybox}]}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: ignored}}
---
apiVersion: flows.kestra.io/v1
kind: KestraFlow
metadata: {name: steal-flow, namespace: kestra}
spec:
  source: |
    id: steal
    namespace: company.team
    variables: {imds: 2852039166}
    tasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: hi}]
`
	objs, err := Parse("m.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, fmt.Sprintf("%s %s/%s doc %d", o.Kind, o.Namespace, o.Name, o.Doc))
	}
	want := "Pod x/a doc 1,Pod default/b doc 1,ConfigMap default/ignored doc 1,KestraFlow kestra/steal-flow doc 2"
	if strings.Join(got, ",") != want {
		t.Fatalf("objects = %v, want %s", got, want)
	}
	if !objs[0].Pod.Spec.HostNetwork {
		t.Error("the List item's hostNetwork was not read")
	}
	vars, _ := objs[3].Flow["variables"].(map[string]any)
	if vars["imds"] != int64(2852039166) {
		t.Errorf("flow variables = %#v, want the integer kept exact", vars)
	}
}

// Documents that are read but not checked come back with the reason, so
// that check reports them instead of passing over them in silence.
func TestParseSkipsWithReason(t *testing.T) {
	for name, tc := range map[string]struct {
		in           string
		kind, reason string
		unrecognised bool
	}{
		"chart values":        {"replicaCount: 1\nimage: {repository: x}\n", "", "not a Kubernetes object (apiVersion and kind) or a Kestra flow", true},
		"GitHub workflow":     {"name: ci\non: [push]\njobs: {test: {runs-on: ubuntu-latest}}\n", "", "not a Kubernetes object", true},
		"a list of strings":   {"- a\n- b\n", "", "not a Kubernetes object or Kestra flow: the document is a list", true},
		"lower-case pod":      {"apiVersion: v1\nkind: pod\nmetadata: {name: p}\n", "pod", `kind "pod" is not Pod: kinds are case-sensitive`, true},
		"lower-case workload": {"kind: deployment\n", "deployment", `kind "deployment" is not Deployment`, true},
		"unknown kind":        {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n", "ConfigMap", "kind ConfigMap holds no Pod and is not checked", false},
	} {
		t.Run(name, func(t *testing.T) {
			objs, err := Parse("m.yaml", []byte(tc.in))
			if err != nil || len(objs) != 1 {
				t.Fatalf("Parse = %+v, %v; want one skipped object", objs, err)
			}
			o := objs[0]
			if o.Kind != tc.kind || !strings.Contains(o.Skip, tc.reason) || o.Unrecognised != tc.unrecognised || o.Line != 1 {
				t.Errorf("got kind %q skip %q unrecognised %v line %d; want kind %q, skip containing %q, unrecognised %v, line 1",
					o.Kind, o.Skip, o.Unrecognised, o.Line, tc.kind, tc.reason, tc.unrecognised)
			}
		})
	}
}

// A broken document does not hide the documents after it, nor another
// broken one: each is an Error of its own.
func TestParseReportsEveryBrokenDocument(t *testing.T) {
	in := "kind: Pod\nspec: {hostNetwork: maybe}\n---\nkind: [\n---\nkind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: a, image: b}]}\n"
	objs, err := Parse("m.yaml", []byte(in))
	if len(objs) != 1 || objs[0].Name != "ok" || objs[0].Line != 6 {
		t.Errorf("objects = %+v, want Pod ok at line 6", objs)
	}
	errs := splitErrors(err)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "document 1 (line 1)") || !strings.Contains(errs[1].Error(), "document 2 (line 4)") {
		t.Errorf("errors = %v, want documents 1 and 2", errs)
	}
}
