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
	want := "Pod default/p,CronJob jobs/nightly,NetworkPolicy jobs/deny,Flow company.team/hello"
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
		"neither kind":   {"foo: bar\n", "expected a Kubernetes object (apiVersion and kind) or a Kestra flow"},
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
			if o.Kind == "" || (o.Pod == nil && o.NetworkPolicy == nil && o.Flow == nil) {
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
	want := "Pod x/a doc 1,Pod default/b doc 1,KestraFlow kestra/steal-flow doc 2"
	if strings.Join(got, ",") != want {
		t.Fatalf("objects = %v, want %s", got, want)
	}
	if !objs[0].Pod.Spec.HostNetwork {
		t.Error("the List item's hostNetwork was not read")
	}
	vars, _ := objs[2].Flow["variables"].(map[string]any)
	if vars["imds"] != int64(2852039166) {
		t.Errorf("flow variables = %#v, want the integer kept exact", vars)
	}
}
