package kestra

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/input"
)

// ManifestObject is one object of the manifests a flow applies
// (io.kestra.plugin.kubernetes.kubectl.Apply's spec), the items of a List
// expanded.
type ManifestObject struct {
	// APIVersion, Kind and Name are as written ("" when absent or not a
	// string).
	APIVersion, Kind, Name string
	// Path is the object's field path from the flow's root, e.g.
	// tasks[0].spec(document 2) or tasks[0].spec(document 1).items[0].
	Path string
	// Value is the object as read from YAML; nil when the document cannot
	// be read, and then Raw holds its text.
	Value map[string]any
	Raw   string
	// Pod is set for a Pod, or the Pod template of a workload.
	Pod *ManifestPod
}

// ManifestPod is a Pod, or the Pod template of a workload.
type ManifestPod struct {
	Pod *corev1.Pod
	// SpecPath and MetaPath are the field paths of the Pod's spec and
	// metadata, from the flow's root.
	SpecPath, MetaPath string
}

// Manifests reads the YAML string of manifests a flow applies, at
// path in the flow, as Kestra's Kubernetes client does (Jackson: keys
// case-sensitive, scalars converted). Lists are expanded; the Pods and Pod
// templates are decoded. What cannot be read is a Problem (and a document
// that is not YAML is returned with its Raw text).
func Manifests(spec, path string) ([]ManifestObject, []Problem) {
	var objs []ManifestObject
	var problems []Problem
	n := 0
	for _, d := range input.SplitDocuments([]byte(spec)) {
		base := path + "(document " + strconv.Itoa(n+1) + ")"
		j, err := yaml.YAMLToJSONStrict(d.Data)
		var v any
		if err == nil {
			err = kjson.UnmarshalCaseSensitivePreserveInts(j, &v)
		}
		if err != nil {
			problems = append(problems, Problem{Path: base, Reason: fmt.Sprintf("cannot be read as YAML manifests (%v); a template in it is rendered by Kestra at run time", err)})
			objs = append(objs, ManifestObject{Path: base, Raw: string(d.Data)})
			n++
			continue
		}
		if v == nil {
			continue
		}
		n++
		o, probs := manifestObject(v, base, 0)
		objs, problems = append(objs, o...), append(problems, probs...)
	}
	return objs, problems
}

func manifestObject(v any, base string, depth int) ([]ManifestObject, []Problem) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, []Problem{{Path: base, Reason: "expected a Kubernetes object, found " + input.Shown(v)}}
	}
	kind, ok := m["kind"].(string)
	if !ok || IsTemplated(kind) {
		return nil, []Problem{{Path: join(base, "kind"), Reason: "expected the object's kind, found " + input.Shown(m["kind"])}}
	}
	if strings.HasSuffix(kind, "List") && m["items"] != nil {
		items, ok := m["items"].([]any)
		if !ok || depth >= input.MaxListDepth {
			return nil, []Problem{{Path: join(base, "items"), Reason: fmt.Sprintf("expected a list of objects nested at most %d deep", input.MaxListDepth)}}
		}
		var objs []ManifestObject
		var problems []Problem
		for i, item := range items {
			o, probs := manifestObject(item, base+".items["+strconv.Itoa(i)+"]", depth+1)
			objs, problems = append(objs, o...), append(problems, probs...)
		}
		return objs, problems
	}
	out := ManifestObject{Kind: kind, Path: base, Value: m}
	out.APIVersion, _ = m["apiVersion"].(string)
	if meta, ok := m["metadata"].(map[string]any); ok {
		out.Name, _ = meta["name"].(string)
	}
	pod, problems := PodOf(kind, m, base)
	out.Pod = pod
	return []ManifestObject{out}, problems
}

// PodOf decodes v, an object (or a partial object: a merge patch) of
// the given kind at path, as Kestra does, and returns its Pod or Pod
// template; nil when the kind holds no Pod.
func PodOf(kind string, v map[string]any, path string) (*ManifestPod, []Problem) {
	var problems []Problem
	decode := func(into any) error {
		problems = append(problems, Decode(v, into, path)...)
		return nil
	}
	switch kind {
	case "Pod":
		out := &ManifestPod{Pod: &corev1.Pod{}, SpecPath: path + ".spec", MetaPath: path + ".metadata"}
		_ = decode(out.Pod)
		return out, problems
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob":
		_, tmpl, _ := input.WorkloadTemplate(kind, decode)
		tp := "." + input.TemplatePath(kind)
		return &ManifestPod{Pod: &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: tmpl.Spec},
			SpecPath: path + tp + ".spec", MetaPath: path + tp + ".metadata"}, problems
	}
	return nil, nil
}
