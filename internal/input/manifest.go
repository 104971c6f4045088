package input

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// ManifestPod is a Pod, or the Pod template of a workload, in the manifests
// a flow applies (io.kestra.plugin.kubernetes.kubectl.Apply's spec).
type ManifestPod struct {
	Kind string
	Name string
	Pod  *corev1.Pod
	// SpecPath and MetaPath are the field paths of the Pod's spec and
	// metadata, from the flow's root.
	SpecPath, MetaPath string
}

// KestraManifests reads the YAML string of manifests a flow applies, at
// path in the flow, as Kestra's Kubernetes client does (Jackson: keys
// case-sensitive, scalars converted). Lists are expanded. Objects that hold
// no Pod are skipped; what cannot be read is a Problem.
func KestraManifests(spec, path string) ([]ManifestPod, []Problem) {
	var pods []ManifestPod
	var problems []Problem
	n := 0
	for _, d := range splitDocuments([]byte(spec)) {
		base := path + "(document " + strconv.Itoa(n+1) + ")"
		j, err := yaml.YAMLToJSONStrict(d.data)
		var v any
		if err == nil {
			err = kjson.UnmarshalCaseSensitivePreserveInts(j, &v)
		}
		if err != nil {
			problems = append(problems, Problem{Path: base, Reason: fmt.Sprintf("cannot be read as YAML manifests (%v); a template in it is rendered by Kestra at run time", err)})
			n++
			continue
		}
		if v == nil {
			continue
		}
		n++
		p, probs := manifestObject(v, base, 0)
		pods, problems = append(pods, p...), append(problems, probs...)
	}
	return pods, problems
}

func manifestObject(v any, base string, depth int) ([]ManifestPod, []Problem) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, []Problem{{Path: base, Reason: "expected a Kubernetes object, found " + shown(v)}}
	}
	kind, ok := m["kind"].(string)
	if !ok || IsTemplated(kind) {
		return nil, []Problem{{Path: join(base, "kind"), Reason: "expected the object's kind, found " + shown(m["kind"])}}
	}
	if strings.HasSuffix(kind, "List") && m["items"] != nil {
		items, ok := m["items"].([]any)
		if !ok || depth >= maxListDepth {
			return nil, []Problem{{Path: join(base, "items"), Reason: fmt.Sprintf("expected a list of objects nested at most %d deep", maxListDepth)}}
		}
		var pods []ManifestPod
		var problems []Problem
		for i, item := range items {
			p, probs := manifestObject(item, base+".items["+strconv.Itoa(i)+"]", depth+1)
			pods, problems = append(pods, p...), append(problems, probs...)
		}
		return pods, problems
	}
	var problems []Problem
	decode := func(into any) error {
		problems = append(problems, DecodeKestra(m, into, base)...)
		return nil
	}
	out := ManifestPod{Kind: kind, SpecPath: base + ".spec", MetaPath: base + ".metadata"}
	switch kind {
	case "Pod":
		out.Pod = &corev1.Pod{}
		_ = decode(out.Pod)
		out.Name = out.Pod.Name
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob":
		meta, tmpl, _ := workloadTemplate(kind, decode)
		out.Name = meta.Name
		out.Pod = &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: tmpl.Spec}
		tp := ".spec.template"
		if kind == "CronJob" {
			tp = ".spec.jobTemplate.spec.template"
		}
		out.SpecPath, out.MetaPath = base+tp+".spec", base+tp+".metadata"
	default:
		return nil, nil
	}
	return []ManifestPod{out}, problems
}
