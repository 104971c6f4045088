package input

import "testing"

// A finding's field path leads to the line where the field is written, to
// its nearest written ancestor when mutation or the default would set it,
// and to the document's line when the path cannot be followed.
func TestFieldLine(t *testing.T) {
	const in = `# comment
apiVersion: v1
kind: ConfigMap
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    metadata:
      labels: {kestra.io/taskrun-id: x}
    spec:
      hostPID: true
      containers:
      - name: a
        image: busybox
      - name: b
        image: busybox
        securityContext:
          privileged: true
---
id: f
namespace: n
tasks:
- id: t
  type: io.kestra.plugin.kubernetes.core.PodCreate
  spec:
    hostNetwork: true
`
	objs, err := Parse("m.yaml", []byte(in))
	if err != nil || len(objs) != 3 {
		t.Fatalf("Parse = %d objects, %v", len(objs), err)
	}
	dep, flow := objs[1], objs[2]
	for name, tc := range map[string]struct {
		o    Object
		path string
		want int
	}{
		"workload field":               {dep, "spec.template.spec.hostPID", 13},
		"container by index":           {dep, "spec.template.spec.containers[1].securityContext.privileged", 20},
		"container by name":            {dep, "spec.template.spec.containers[b].image", 18},
		"label key with dots":          {dep, "spec.template.metadata.labels[kestra.io/taskrun-id]", 11},
		"unset field: nearest written": {dep, "spec.template.spec.containers[0].securityContext.runAsNonRoot", 15},
		"unknown path: the template":   {dep, "spec.template.status.phase", 9},
		"unknown path: the document":   {flow, "status.phase", 22},
		"a Pod's path in a workload":   {dep, "spec.hostPID", 8},
		"no path: the document":        {dep, "", 5},
		"flow field":                   {flow, "tasks[0].spec.hostNetwork", 28},
		"index out of range":           {flow, "tasks[3].spec", 24},
	} {
		if got := tc.o.FieldLine(tc.path); got != tc.want {
			t.Errorf("%s: FieldLine(%q) = %d, want %d", name, tc.path, got, tc.want)
		}
	}
}

func FuzzFieldLine(f *testing.F) {
	f.Add("kind: Pod\nspec: {containers: [{name: a}]}\n", "spec.containers[a].x")
	f.Add("id: f\nnamespace: n\ntasks: [{id: t}]\n", "tasks[0][")
	f.Fuzz(func(t *testing.T, doc, path string) {
		objs, _ := Parse("f.yaml", []byte(doc))
		for _, o := range objs {
			if l := o.FieldLine(path); l < o.Line {
				t.Fatalf("FieldLine(%q) = %d, before the document's line %d", path, l, o.Line)
			}
		}
	})
}
