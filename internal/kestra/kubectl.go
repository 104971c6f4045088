package kestra

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// The kubectl tasks of Kestra's plugin-kubernetes, as read from its source
// (src/main/java/io/kestra/plugin/kubernetes/kubectl/*.java, and
// AbstractPod.java for `namespace`, default "default"):
//   - Apply: `spec`, a YAML or JSON string of manifests, several documents
//     separated by "---" (parsed by AbstractPod.parseSpec: a List's items
//     are applied one by one), applied by server-side apply in `namespace`
//     unless an object names its own.
//   - Patch: `resourceType` (the kind, e.g. "deployment" or "pod"; fabric8
//     derives the plural from it, so case and a plural do not matter),
//     `resourceName`, `patch` (a string), `patchStrategy` (STRATEGIC_MERGE,
//     the default, JSON_MERGE or JSON_PATCH), `apiGroup` ("" for core),
//     `apiVersion` (default v1), `namespace`. The resource is always built as
//     namespaced (Patch.java says cluster-scoped kinds are not supported):
//     a Namespace patch is judged all the same, in case a later version
//     supports it.
//   - Delete: `resourceType`, `resourcesNames` (a list), `apiGroup`,
//     `apiVersion`, `namespace`.
//   - Get and Restart (`resourceType` Deployment or StatefulSet,
//     `resourcesNames`) read objects or roll Pods with the spec they have:
//     nothing to judge.

// egressField is the field a problem in a NetworkPolicy's egress rules is
// reported for: the rule that declares it (policy.Rule.FlowFields) judges
// them.
const egressField = "egress"

// GuardObjectRule is the rule ID of a flow that changes an object
// kestra-guard decides with: its managed NetworkPolicy, a namespace's
// kestra-guard.io labels, the labels that make a Pod a task runner, a
// PolicyException, an admission configuration. It always denies.
const GuardObjectRule = "guard-object"

// guardGroup is the API group of kestra-guard's own resources.
const guardGroup = "kestra-guard.io"

// labelPrefix is the prefix of the labels kestra-guard reads on namespaces
// (scope.ModeLabel, scope.RunnerLabel).
const labelPrefix = "kestra-guard.io/"

// kubectlKinds maps what a kubectl task may name in resourceType (singular
// or plural, any case) to the kind the lint judges.
var kubectlKinds = kindNames()

// harmlessKinds hold nothing kestra-guard decides with: applying or patching
// them is a notice.
var harmlessKinds = []string{"ConfigMap", "Secret", "Service", "ServiceAccount", "PersistentVolumeClaim", "Ingress",
	"HorizontalPodAutoscaler", "PodDisruptionBudget", "Endpoints", "EndpointSlice", "Event", "Lease",
	"LimitRange", "ResourceQuota", "PodTemplate", "Role", "RoleBinding"}

func kindNames() map[string]string {
	names := map[string]string{}
	for _, k := range slices.Concat(input.PodKinds, harmlessKinds, []string{"NetworkPolicy", "Namespace", "PolicyException"}) {
		l := strings.ToLower(k)
		names[l] = k
		switch {
		case strings.HasSuffix(l, "y"):
			names[strings.TrimSuffix(l, "y")+"ies"] = k
		case strings.HasSuffix(l, "s"):
			names[l+"es"] = k
		default:
			names[l+"s"] = k
		}
	}
	return names
}

// groupOf is the API group of an apiVersion ("" for core).
func groupOf(apiVersion string) string {
	g, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return g
}

// admissionGroup is the group of webhook configurations and admission
// policies: changing them can switch kestra-guard off.
const admissionGroup = "admissionregistration.k8s.io"

type kubectlTask struct {
	id   string // the task's id, for messages
	path string // its field path, e.g. tasks[0]
	t    map[string]any
}

func (k kubectlTask) who() string { return "task " + strconv.Quote(k.id) }

// str returns a string property, or ok=false with a problem when it is
// not a string (absent: "", true).
func (l *linter) str(k kubectlTask, key string) (string, bool) {
	switch v := k.t[key].(type) {
	case nil:
		return "", true
	case string:
		return v, true
	default:
		l.problems([]Problem{{Path: join(k.path, key), Reason: "expected a string, found " + fmt.Sprint(v)}})
		return "", false
	}
}

func (l *linter) guardObject(field, reason, detail string) {
	l.add(policy.Violation{Rule: GuardObjectRule, Field: field, Action: policy.Deny, Reason: reason, Detail: detail})
}

func (l *linter) cannot(field, reason string) {
	l.problems([]Problem{{Path: field, Reason: reason}})
}

func (l *linter) notice(field, text string) {
	l.notes = append(l.notes, l.source(field)+": "+text)
}

// kubectl judges one kubectl task (typ ends with .kubectl.Apply, .Patch or
// .Delete); it reports whether it did.
func (l *linter) kubectl(typ string, t map[string]any, path string) bool {
	id, _ := t["id"].(string)
	k := kubectlTask{id: id, path: path, t: t}
	switch {
	case strings.HasSuffix(typ, ".kubectl.Apply"):
		l.apply(k)
	case strings.HasSuffix(typ, ".kubectl.Patch"):
		l.patch(k)
	case strings.HasSuffix(typ, ".kubectl.Delete"):
		l.delete(k)
	default:
		return false
	}
	return true
}

// kubectlString reports whether key of a plugin of type typ is a YAML
// string the kubectl task judges itself (and the scan skips).
func kubectlString(typ, key string) bool {
	return strings.HasSuffix(typ, ".kubectl.Apply") && key == "spec" || strings.HasSuffix(typ, ".kubectl.Patch") && key == "patch"
}

// apply judges every object of kubectl.Apply's spec.
func (l *linter) apply(k kubectlTask) {
	sp := join(k.path, "spec")
	s, ok := k.t["spec"].(string)
	if !ok {
		if k.t["spec"] != nil {
			l.scan(k.t["spec"], sp)
		}
		l.cannot(sp, "expected the manifests as a YAML string")
		return
	}
	objs, problems := Manifests(s, sp)
	l.problems(problems)
	for _, o := range objs {
		if o.Value == nil {
			l.scan(o.Raw, o.Path)
			continue
		}
		l.applied(k, o)
	}
}

func (l *linter) applied(k kubectlTask, o ManifestObject) {
	group := groupOf(o.APIVersion)
	what := o.Kind + " " + strconv.Quote(o.Name)
	switch {
	case o.Pod != nil:
		l.scan(o.Value, o.Path)
		l.evaluate(o.Pod.Pod, [][2]string{{"spec", o.Pod.SpecPath}, {"metadata", o.Pod.MetaPath}})
	case group == guardGroup || o.Kind == "PolicyException" && (group == "" || IsTemplated(group)):
		l.guardObject(o.Path, "a flow applies a kestra-guard object",
			k.who()+" applies "+what+" ("+o.APIVersion+"); a PolicyException waives rules for the Pods it matches, and kestra-guard's objects are the platform team's: remove it from the flow and ask for the exception")
	case o.Kind == "CustomResourceDefinition" && strings.HasSuffix(o.Name, "."+guardGroup):
		l.guardObject(o.Path, "a flow applies a kestra-guard object", k.who()+" applies the CustomResourceDefinition "+o.Name+"; it decides which exceptions kestra-guard can read: remove it from the flow")
	case group == admissionGroup:
		l.guardObject(o.Path, "a flow changes admission control", k.who()+" applies "+what+"; webhook configurations and admission policies decide whether kestra-guard sees a Pod at all: remove it from the flow")
	case o.Kind == "NetworkPolicy":
		l.scanSkipping(o.Value, o.Path, "ipBlock") // ipBlocks are judged below
		l.appliedPolicy(k, o)
	case o.Kind == "Namespace":
		l.scan(o.Value, o.Path)
		meta, _ := o.Value["metadata"].(map[string]any)
		labels, _ := meta["labels"].(map[string]any)
		l.namespaceLabels(k, labels, join(o.Path, "metadata.labels"), "applies Namespace "+strconv.Quote(o.Name)+" with the label %s")
		if probs := Decode(meta, new(struct {
			Labels map[string]string `json:"labels"`
		}), join(o.Path, "metadata")); len(probs) > 0 {
			l.problems(probs)
		}
	default:
		l.scan(o.Value, o.Path)
		l.notice(o.Path, k.who()+" applies "+what+", which cannot change what kestra-guard decides (the webhook judges any Pod it leads to): not checked")
	}
}

// appliedPolicy judges a NetworkPolicy a flow applies as the NetworkPolicy
// webhook judges it in a runner namespace.
func (l *linter) appliedPolicy(k kubectlTask, o ManifestObject) {
	var np networkingv1.NetworkPolicy
	l.problems(Decode(o.Value, &np, o.Path))
	if np.Name == managed.Name || IsTemplated(np.Name) {
		l.managedPolicy(k, join(o.Path, "metadata.name"), "applies", np.Name)
		return
	}
	spec, _ := o.Value["spec"].(map[string]any)
	l.templatedEgress(spec, join(o.Path, "spec"))
	l.openings(k, &np, o.Path)
}

func (l *linter) managedPolicy(k kubectlTask, field, verb string, name any) {
	what := "NetworkPolicy " + managed.Name + ","
	if name != managed.Name {
		what = fmt.Sprintf("a NetworkPolicy named %v, which Kestra renders at run time: it may be %s,", name, managed.Name)
	}
	l.guardObject(field, "a flow changes kestra-guard's managed NetworkPolicy",
		k.who()+" "+verb+" "+what+" which blocks task runners' egress to the metadata service and belongs to kestra-guard: remove the task; to allow other egress, add a NetworkPolicy whose ipBlocks except the metadata ranges")
}

// templatedEgress reports every template in the egress rules and
// policyTypes of a NetworkPolicy's spec (a raw map): the lint cannot know
// what it allows.
func (l *linter) templatedEgress(spec map[string]any, path string) {
	for _, key := range []string{"egress", "policyTypes"} {
		for _, p := range templatedPaths(spec[key], join(path, key)) {
			l.problems([]Problem{{Path: p, Field: egressField, Reason: "a template Kestra renders at run time decides which addresses the policy allows"}})
		}
	}
}

func templatedPaths(v any, path string) []string {
	var out []string
	switch t := v.(type) {
	case string:
		if IsTemplated(t) {
			out = append(out, path)
		}
	case []any:
		for i, x := range t {
			out = append(out, templatedPaths(x, index(path, i))...)
		}
	case map[string]any:
		for _, k := range sortedKeys(t) {
			out = append(out, templatedPaths(t[k], join(path, k))...)
			if IsTemplated(k) {
				out = append(out, join(path, k))
			}
		}
	}
	return out
}

// openings reports the egress rules of np that reach a metadata address,
// in a runner namespace (every Pod there is a task runner), under
// metadata-egress-blocked with its action; base is np's path in the flow.
func (l *linter) openings(k kubectlTask, np *networkingv1.NetworkPolicy, base string) {
	if name, _ := k.t["resourceName"].(string); np.Name == "" {
		np.Name = name // a patch names its target in the task
	}
	if ns, _ := k.t["namespace"].(string); np.Namespace == "" && !IsTemplated(ns) {
		np.Namespace = ns
	}
	action := l.e.Action(policy.MetadataEgressBlockedID)
	if action == policy.Off {
		return
	}
	for _, v := range scope.ReopeningViolations(l.sc.MetadataReopenings(np, true, l.e.Options()), action) {
		v.Field = join(base, v.Field)
		v.Detail += " (" + k.who() + "); add the metadata ranges to the ipBlock's except, or keep the policy out of the namespaces that run Kestra tasks"
		l.add(v)
	}
}

// namespaceLabels denies setting or removing a kestra-guard.io label of a
// Namespace (labels as written; a nil value removes the label); verb says
// what the task does, with %s for the label.
func (l *linter) namespaceLabels(k kubectlTask, labels map[string]any, path, verb string) {
	for _, key := range sortedKeys(labels) {
		if strings.HasPrefix(key, labelPrefix) {
			l.namespaceLabel(k, path+"["+key+"]", fmt.Sprintf(verb, key))
		}
	}
}

func (l *linter) namespaceLabel(k kubectlTask, field, what string) {
	l.guardObject(field, "a flow changes kestra-guard's namespace labels",
		k.who()+" "+what+"; "+scope.ModeLabel+", "+scope.RunnerLabel+" and "+scope.EnforceVersionLabel+" decide whether, how and by which rules kestra-guard guards the namespace's Pods and are the platform team's to set: remove it from the flow")
}

// target is what a Patch or Delete names: the kind the lint judges, or ""
// when it is not one the lint knows.
func (l *linter) target(k kubectlTask) (kind, group string, ok bool) {
	rt, ok1 := l.str(k, "resourceType")
	group, ok2 := l.str(k, "apiGroup")
	if !ok1 || !ok2 {
		return "", "", false
	}
	for key, v := range map[string]string{"resourceType": rt, "apiGroup": group} {
		if IsTemplated(v) {
			l.cannot(join(k.path, key), fmt.Sprintf("%q is a template Kestra renders at run time; the lint cannot know which kind the task changes", v))
			return "", "", false
		}
	}
	return kubectlKinds[strings.ToLower(strings.TrimSpace(rt))], strings.TrimSpace(group), true
}

// guardTarget denies a Patch or Delete of kestra-guard's own resources or
// of admission configuration; it reports whether it did.
func (l *linter) guardTarget(k kubectlTask, kind, group, verb string) bool {
	rt, _ := k.t["resourceType"].(string)
	switch {
	case group == guardGroup || kind == "PolicyException" && group == "":
		l.guardObject(join(k.path, "resourceType"), "a flow changes a kestra-guard object",
			k.who()+" "+verb+" "+rt+" of "+group+"; a PolicyException waives rules for the Pods it matches, and kestra-guard's objects are the platform team's: remove it from the flow")
		return true
	case group == admissionGroup:
		l.guardObject(join(k.path, "apiGroup"), "a flow changes admission control",
			k.who()+" "+verb+" "+rt+" of "+group+"; webhook configurations and admission policies decide whether kestra-guard sees a Pod at all: remove it from the flow")
		return true
	}
	return false
}

// delete denies deleting the managed NetworkPolicy (or a name Kestra
// renders) and kestra-guard's objects.
func (l *linter) delete(k kubectlTask) {
	kind, group, ok := l.target(k)
	if !ok || l.guardTarget(k, kind, group, "deletes") || kind != "NetworkPolicy" {
		return
	}
	np := join(k.path, "resourcesNames")
	switch names := k.t["resourcesNames"].(type) {
	case []any:
		for i, n := range names {
			if s, ok := n.(string); !ok || s == managed.Name || IsTemplated(s) {
				l.managedPolicy(k, index(np, i), "deletes", n)
			}
		}
	case nil:
	default:
		l.managedPolicy(k, np, "deletes", names)
	}
}

// patch judges a kubectl.Patch on every kind it can target.
func (l *linter) patch(k kubectlTask) {
	kind, group, ok := l.target(k)
	if !ok || l.guardTarget(k, kind, group, "patches") {
		l.scanPatch(k)
		return
	}
	pp := join(k.path, "patch")
	switch kind {
	case "NetworkPolicy":
		name, ok := l.str(k, "resourceName")
		if ok && (name == managed.Name || IsTemplated(name)) {
			l.managedPolicy(k, join(k.path, "resourceName"), "patches", name)
			l.scanPatch(k)
			return
		}
	case "Namespace":
	default:
		if !slices.Contains(input.PodKinds, kind) {
			l.scanPatch(k)
			rt, _ := k.t["resourceType"].(string)
			l.notice(pp, k.who()+" patches "+rt+", which cannot change what kestra-guard decides (the webhook judges any Pod it leads to): not checked")
			return
		}
	}
	strategy, ok := l.str(k, "patchStrategy")
	if !ok {
		l.scanPatch(k)
		return
	}
	written := strategy
	strategy = strings.ToUpper(strings.TrimSpace(strategy))
	if strategy == "" {
		strategy = "STRATEGIC_MERGE"
	}
	if IsTemplated(strategy) || !slices.Contains([]string{"STRATEGIC_MERGE", "JSON_MERGE", "JSON_PATCH"}, strategy) {
		l.scanPatch(k)
		l.cannot(join(k.path, "patchStrategy"), fmt.Sprintf("expected STRATEGIC_MERGE, JSON_MERGE or JSON_PATCH, found %q; the lint cannot know how the patch applies", written))
		return
	}
	v, ok := l.patchValue(k)
	if !ok {
		return
	}
	if strategy == "JSON_PATCH" {
		l.jsonPatch(k, kind, v, pp)
		return
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		l.cannot(pp, "expected a "+strings.ToLower(strings.ReplaceAll(strategy, "_", " "))+" patch, a JSON object")
		return
	}
	l.mergePatch(k, kind, m, pp)
}

// scanPatch scans the patch as written, for a patch the lint does not read.
func (l *linter) scanPatch(k kubectlTask) {
	if p := k.t["patch"]; p != nil {
		l.scan(p, join(k.path, "patch"))
	}
}

// patchValue reads the patch string as JSON (or YAML); a patch written as
// an object or a list in the flow is taken as is.
func (l *linter) patchValue(k kubectlTask) (any, bool) {
	pp := join(k.path, "patch")
	switch p := k.t["patch"].(type) {
	case string:
		j, err := yaml.YAMLToJSONStrict([]byte(p))
		var v any
		if err == nil {
			err = kjson.UnmarshalCaseSensitivePreserveInts(j, &v)
		}
		if err != nil {
			l.scan(p, pp)
			l.cannot(pp, fmt.Sprintf("cannot be read as JSON (%v); a template in it is rendered by Kestra at run time", err))
			return nil, false
		}
		return v, true
	case map[string]any, []any:
		return p, true
	case nil:
		l.cannot(pp, "expected the patch, found none")
	default:
		l.cannot(pp, fmt.Sprintf("expected the patch as a JSON string, found %v", p))
	}
	return nil, false
}

// mergePatch judges a strategic merge or JSON merge patch: a partial
// object, where null removes a field.
func (l *linter) mergePatch(k kubectlTask, kind string, m map[string]any, pp string) {
	meta, hasMeta := m["metadata"]
	metaMap, _ := meta.(map[string]any)
	labels, hasLabels := metaMap["labels"]
	labelMap, _ := labels.(map[string]any)
	removesLabels := hasMeta && meta == nil || hasLabels && labels == nil
	switch kind {
	case "Namespace":
		l.scan(m, pp)
		l.namespaceLabels(k, labelMap, join(pp, "metadata.labels"), "sets or removes the label %s of a Namespace")
		if removesLabels {
			l.namespaceLabel(k, join(pp, "metadata"), "removes every label of a Namespace, "+labelPrefix+"* included")
		}
		l.problems(templatedKeys(labelMap, join(pp, "metadata.labels")))
	case "NetworkPolicy":
		l.scanSkipping(m, pp, "ipBlock")
		var np networkingv1.NetworkPolicy
		l.problems(Decode(m, &np, pp))
		spec, _ := m["spec"].(map[string]any)
		l.templatedEgress(spec, join(pp, "spec"))
		_, setsTypes := spec["policyTypes"]
		_, setsSelector := spec["podSelector"]
		if egress, ok := spec["egress"]; ok && egress != nil {
			if !setsTypes {
				np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress} // the policy as it stands may have it
			}
			l.openings(k, &np, pp)
			return
		}
		if setsTypes && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || setsSelector {
			field := join(pp, "spec.policyTypes")
			if !setsTypes {
				field = join(pp, "spec.podSelector")
			}
			l.blindPolicyChange(k, field)
		}
	default: // a Pod or a workload
		l.scan(m, pp)
		if kind == "Pod" {
			l.runnerLabels(k, labelMap, join(pp, "metadata.labels"))
			if removesLabels {
				l.runnerLabel(k, join(pp, "metadata"), "removes every label of a Pod")
			}
		}
		pod, problems := PodOf(kind, m, pp)
		l.problems(problems)
		l.evaluate(pod.Pod, [][2]string{{"spec", pod.SpecPath}, {"metadata", pod.MetaPath}})
	}
}

func (l *linter) blindPolicyChange(k kubectlTask, field string) {
	l.problems([]Problem{{Path: field, Field: egressField,
		Reason: k.who() + " changes which Pods or traffic a NetworkPolicy's egress rules apply to without writing the rules, which the lint cannot see; write the whole egress list in the patch"}})
}

func templatedKeys(m map[string]any, path string) []Problem {
	var out []Problem
	for _, key := range sortedKeys(m) {
		if IsTemplated(key) {
			out = append(out, Problem{Path: path + "[" + key + "]", Reason: fmt.Sprintf("the key %q is a template Kestra renders at run time", key)})
		}
	}
	return out
}

// runnerKeys are the label keys the task-runner selector reads.
func (l *linter) runnerKeys() []string {
	sel := l.sc.Selector()
	var keys []string
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	for _, e := range sel.MatchExpressions {
		keys = append(keys, e.Key)
	}
	slices.Sort(keys)
	return keys
}

// runnerLabels denies a patch of a Pod's labels the task-runner selector
// reads (or kestra-guard.io labels): a running task runner relabelled
// leaves the managed NetworkPolicy's podSelector.
func (l *linter) runnerLabels(k kubectlTask, labels map[string]any, path string) {
	keys := l.runnerKeys()
	for _, key := range sortedKeys(labels) {
		if slices.Contains(keys, key) || strings.HasPrefix(key, labelPrefix) {
			l.runnerLabel(k, path+"["+key+"]", "sets or removes the label "+key+" of a Pod")
		}
	}
	l.problems(templatedKeys(labels, path))
}

func (l *linter) runnerLabel(k kubectlTask, field, what string) {
	l.guardObject(field, "a flow changes the labels that make a Pod a task runner",
		k.who()+" "+what+"; the labels taskRunnerSelector ("+l.sc.SelectorText()+") reads decide which Pods kestra-guard and its NetworkPolicy guard: leave them to Kestra")
}

// pointer splits a JSON pointer (RFC 6901) into its tokens.
func pointer(p string) ([]string, bool) {
	if p == "" {
		return nil, true
	}
	if !strings.HasPrefix(p, "/") {
		return nil, false
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, true
}

// maxPatchIndex bounds the list indexes a JSON patch fragment is padded to.
const maxPatchIndex = 1024

// fragment builds the partial object that holds v at the pointer toks: a
// token that is an index or "-" is a list position.
func fragment(toks []string, v any) (any, bool) {
	if len(toks) == 0 {
		return v, true
	}
	child, ok := fragment(toks[1:], v)
	if !ok {
		return nil, false
	}
	t := toks[0]
	if t == "-" {
		return []any{child}, true
	}
	if i, err := strconv.Atoi(t); err == nil && i >= 0 && t == strconv.Itoa(i) {
		if i > maxPatchIndex {
			return nil, false
		}
		l := make([]any, i+1)
		for j := range i {
			l[j] = map[string]any{}
		}
		l[i] = child
		return l, true
	}
	return map[string]any{t: child}, true
}

// jsonPatch judges a JSON patch (RFC 6902): each add or replace is mapped
// onto a partial object and judged like a merge patch; a remove, move or
// copy is judged by where it writes.
func (l *linter) jsonPatch(k kubectlTask, kind string, v any, pp string) {
	ops, ok := v.([]any)
	if !ok {
		l.scan(v, pp)
		l.cannot(pp, "expected a JSON patch, a list of operations")
		return
	}
	for i, x := range ops {
		base := index(pp, i)
		op, _ := x.(map[string]any)
		name, _ := op["op"].(string)
		path, _ := op["path"].(string)
		toks, okPath := pointer(path)
		if op == nil || !okPath || IsTemplated(path) || IsTemplated(name) {
			l.scan(x, base)
			l.cannot(base, "expected an operation with op and path (a JSON pointer written out), found "+fmt.Sprint(x))
			continue
		}
		switch name {
		case "test":
			continue
		case "add", "replace":
			val := op["value"]
			frag, ok := fragment(toks, val)
			m, isMap := frag.(map[string]any)
			if !ok || !isMap {
				l.scan(val, join(base, "value"))
				l.cannot(base, fmt.Sprintf("%s %s: cannot be mapped onto the object (a value that is not an object at the root, or a list index above %d)", name, path, maxPatchIndex))
				continue
			}
			if kind == "NetworkPolicy" {
				l.patchedPolicy(k, toks, m, val, base)
				continue
			}
			if len(toks) == 0 || len(toks) <= 2 && toks[0] == "metadata" && (len(toks) == 1 || toks[1] == "labels") {
				l.removal(k, kind, name, "", path, toks, base) // replaces every label
			}
			l.mergePatch(k, kind, m, base)
		case "remove", "move", "copy":
			l.scan(x, base)
			from, _ := op["from"].(string)
			l.removal(k, kind, name, from, path, toks, base)
		default:
			l.scan(x, base)
			l.cannot(base, fmt.Sprintf("unknown JSON patch operation %q; expected add, remove, replace, move, copy or test", name))
		}
	}
}

// removal judges a remove, move or copy: a move or copy writes a value the
// lint cannot see; a remove can drop labels or NetworkPolicy fields.
func (l *linter) removal(k kubectlTask, kind, op, from, path string, toks []string, base string) {
	at := func(prefix ...string) bool {
		return len(toks) >= len(prefix) && slices.Equal(toks[:len(prefix)], prefix)
	}
	labels := func(isKey func(string) bool) bool {
		// the whole object, its metadata or labels, or one label isKey accepts
		return len(toks) <= 1 && (len(toks) == 0 || toks[0] == "metadata") || len(toks) == 2 && at("metadata", "labels") ||
			len(toks) == 3 && at("metadata", "labels") && isKey(toks[2])
	}
	if op == "move" || op == "copy" {
		what := opVerb(op) + " " + from + " to " + path
		switch {
		case kind == "Namespace" && labels(func(string) bool { return true }):
			l.namespaceLabel(k, base, what+", a value the lint cannot see, over a Namespace's labels")
		case kind == "NetworkPolicy" && at("spec"):
			l.blindPolicyChange(k, base)
		case kind != "Namespace" && kind != "NetworkPolicy" && (at("spec") || len(toks) == 0):
			l.cannot(base, what+" writes a value the lint cannot see into the spec; write the value itself")
		case kind == "Pod" && labels(func(string) bool { return true }):
			l.runnerLabel(k, base, what+" over a Pod's labels")
		}
		return
	}
	switch kind {
	case "Namespace":
		if labels(func(key string) bool { return strings.HasPrefix(key, labelPrefix) }) {
			l.namespaceLabel(k, base, opVerb(op)+" "+path+" of a Namespace, which sets or drops its "+labelPrefix+"* labels")
		}
	case "Pod":
		keys := l.runnerKeys()
		if labels(func(key string) bool { return slices.Contains(keys, key) || strings.HasPrefix(key, labelPrefix) }) {
			l.runnerLabel(k, base, opVerb(op)+" "+path+" of a Pod, which sets or drops the labels that make it a task runner")
		}
	case "NetworkPolicy":
		// Removing whole egress rules narrows what the policy allows
		// (rules add up); anything else under spec can widen it.
		if at("spec") && !(len(toks) == 2 && at("spec", "egress")) && !(len(toks) == 3 && at("spec", "egress")) {
			l.blindPolicyChange(k, base)
		}
	}
}

// opVerb is a JSON patch operation as a verb ("copy": "copies").
func opVerb(op string) string {
	if op == "copy" {
		return "copies"
	}
	return op + "s"
}

// patchedPolicy judges one add or replace of a JSON patch on a
// NetworkPolicy: a whole spec, egress list, rule, "to" list or peer is
// judged as written; anything else under spec cannot be judged without the
// policy as it stands.
func (l *linter) patchedPolicy(k kubectlTask, toks []string, m map[string]any, val any, base string) {
	l.scanSkipping(val, join(base, "value"), "ipBlock")
	if len(toks) == 0 || toks[0] != "spec" {
		return // metadata: labels and annotations open nothing
	}
	isIndex := func(t string) bool {
		_, err := strconv.Atoi(t)
		return t == "-" || err == nil
	}
	n := len(toks)
	whole := n == 1 || n == 2 && toks[1] == "egress" ||
		n == 3 && toks[1] == "egress" && isIndex(toks[2]) ||
		n == 4 && toks[1] == "egress" && isIndex(toks[2]) && toks[3] == "to" ||
		n == 5 && toks[1] == "egress" && isIndex(toks[2]) && toks[3] == "to" && isIndex(toks[4])
	if !whole {
		if toks[1] == "ingress" {
			return
		}
		l.blindPolicyChange(k, base)
		return
	}
	var np networkingv1.NetworkPolicy
	l.problems(Decode(m, &np, base))
	spec, _ := m["spec"].(map[string]any)
	l.templatedEgress(spec, join(base, "spec"))
	if n > 1 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress} // the policy as it stands may have it
	}
	l.openings(k, &np, base)
}
