// Package input reads the files `check` and `mutate` are given: YAML
// (multi-document) or JSON holding Pods, workloads with Pod templates,
// NetworkPolicies, Lists of them, Kestra flows and KestraFlow resources.
package input

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
)

// Object is one document of an input file.
type Object struct {
	File      string
	Doc       int // 1-based document index within the file
	Line      int // line the document starts on
	Kind      string
	Namespace string
	Name      string
	// Pod is set for Pods and for the Pod template of a workload.
	Pod *corev1.Pod
	// NetworkPolicy is set for NetworkPolicies.
	NetworkPolicy *networkingv1.NetworkPolicy
	// Flow is set for Kestra flows and KestraFlow resources (spec.source).
	Flow map[string]any
	// Exception is set for kestra-guard PolicyExceptions.
	Exception *v1alpha1.PolicyException
	// Skip says why the document is read but not checked (a kind that
	// holds no Pod, a YAML file that is not a Kubernetes object); "" for
	// the documents that are checked.
	Skip string
	// Unrecognised marks a skipped document that is not a Kubernetes object
	// or flow at all, or whose kind differs only in case from a checked one:
	// `check --strict` refuses it.
	Unrecognised bool

	// source is the document's YAML, for FieldLine.
	source   []byte
	listItem bool
}

// Error is an input that cannot be read or parsed.
type Error struct {
	File string
	Doc  int
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Doc == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s: document %d (line %d): %v", e.File, e.Doc, e.Line, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Read reads every path: a file, a folder (walked for .yaml, .yml and
// .json files) or "-" for stdin. It stops at the first input that cannot be
// read; ReadAll reads them all.
func Read(paths []string, stdin io.Reader) ([]Object, error) {
	objs, errs := ReadAll(paths, stdin)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return objs, nil
}

// ReadAll reads every path as Read does and returns what it could read with
// every input that could not: each file, and each document of a file, on
// its own. Inside a folder, hidden files and folders (".github", ".git")
// are not walked; a path named explicitly is read whatever its name.
func ReadAll(paths []string, stdin io.Reader) ([]Object, []error) {
	var out []Object
	var errs []error
	add := func(objs []Object, err error) {
		out = append(out, objs...)
		if err != nil {
			errs = append(errs, splitErrors(err)...)
		}
	}
	for _, p := range paths {
		if p == "-" {
			b, err := io.ReadAll(stdin)
			if err != nil {
				errs = append(errs, &Error{File: "<stdin>", Err: err})
				continue
			}
			add(Parse("<stdin>", b))
			continue
		}
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, &Error{File: path, Err: err})
				return nil
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || (path != p && !isManifest(path)) {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, &Error{File: path, Err: err})
				return nil
			}
			add(Parse(path, b))
			return nil
		})
	}
	return out, errs
}

// splitErrors undoes errors.Join.
func splitErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func isManifest(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Document is one YAML document of a file and the line it starts on.
type Document struct {
	Line int
	Data []byte
}

// SplitDocuments splits YAML at "---" lines, keeping each document's first line.
func SplitDocuments(b []byte) []Document {
	var docs []Document
	cur := Document{Line: 1}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), len(b)+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if bytes.Equal(bytes.TrimRight(line, " \t\r"), []byte("---")) || bytes.HasPrefix(line, []byte("--- ")) {
			docs = append(docs, cur)
			cur = Document{Line: n + 1}
			continue
		}
		cur.Data = append(append(cur.Data, line...), '\n')
	}
	return append(docs, cur)
}

// Parse reads the documents of one file; a document that cannot be read
// does not stop the others, and the error joins one Error per document. Keys are matched case-sensitively,
// as the API server does: a key that differs from a field only in case is an
// unknown field, and unknown or repeated fields are errors (as with kubectl's
// default strict field validation). Lists (kind List, or any kind ending in
// List with items) are expanded into their items.
func Parse(file string, b []byte) ([]Object, error) {
	var out []Object
	var errs []error
	docNo := 0
	for _, d := range SplitDocuments(b) {
		objs, empty, err := parseDocument(d)
		if empty {
			continue // empty or comments only
		}
		docNo++
		if err != nil {
			line := d.Line
			if fe := (*FieldError)(nil); errors.As(err, &fe) {
				line = Object{source: d.Data, Line: d.Line}.FieldLine(fe.Field)
			}
			errs = append(errs, &Error{File: file, Doc: docNo, Line: line, Err: err})
			continue
		}
		for i := range objs {
			objs[i].File, objs[i].Doc, objs[i].Line = file, docNo, d.Line
			if !objs[i].listItem && (objs[i].Pod != nil || objs[i].Kind == "Flow") {
				objs[i].source = d.Data
			}
		}
		out = append(out, objs...)
	}
	return out, errors.Join(errs...)
}

// parseDocument reads one document; empty says it holds nothing.
func parseDocument(d Document) (objs []Object, empty bool, err error) {
	j, err := yaml.YAMLToJSONStrict(d.Data)
	if err != nil {
		return nil, false, fmt.Errorf("expected YAML or JSON: %w", err)
	}
	var head any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &head); err != nil {
		return nil, false, fmt.Errorf("expected YAML or JSON: %w", err)
	}
	if head == nil {
		return nil, true, nil
	}
	m, ok := head.(map[string]any)
	if !ok {
		return []Object{{Skip: "not a Kubernetes object or Kestra flow: the document is " + Shown(head) + ", not an object", Unrecognised: true}}, false, nil
	}
	objs, err = decodeDocument(m, j, 0)
	return objs, false, err
}

// MaxListDepth bounds Lists nested in Lists (in a file, or in the
// manifests a flow applies).
const MaxListDepth = 8

// decodeDocument reads one object (head is data decoded without a type):
// a Kestra flow, a KestraFlow resource, a List, or a Kubernetes object.
// Kinds that are not checked yield nothing.
func decodeDocument(head map[string]any, data []byte, depth int) ([]Object, error) {
	kind, _ := head["kind"].(string)
	switch {
	case kind == "" && depth == 0:
		if _, isFlow := head["tasks"]; isFlow && head["id"] != nil && head["namespace"] != nil {
			o := Object{Kind: "Flow", Flow: head}
			o.Namespace, _ = head["namespace"].(string)
			o.Name, _ = head["id"].(string)
			return []Object{o}, nil
		}
		return []Object{{Skip: "not a Kubernetes object (apiVersion and kind) or a Kestra flow (id, namespace and tasks)", Unrecognised: true}}, nil
	case kind == "KestraFlow":
		o, err := kestraFlow(head)
		if err != nil {
			return nil, err
		}
		return []Object{o}, nil
	case strings.HasSuffix(kind, "List") && head["items"] != nil:
		if depth >= MaxListDepth {
			return nil, fmt.Errorf("%s: Lists nested more than %d deep", kind, MaxListDepth)
		}
		return decodeList(kind, head["items"], depth)
	}
	var o Object
	if err := o.decode(kind, data); err != nil {
		return nil, err
	}
	if o.Kind == "" {
		return []Object{skippedKind(kind, head)}, nil
	}
	return []Object{o}, nil
}

// checkedKinds are the kinds decode reads.
var checkedKinds = []string{"Pod", "NetworkPolicy", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "PolicyException", "KestraFlow"}

// skippedKind describes an object of a kind that is not checked.
func skippedKind(kind string, head map[string]any) Object {
	o := Object{Kind: kind, Namespace: metav1.NamespaceDefault}
	if meta, ok := head["metadata"].(map[string]any); ok {
		o.Name, _ = meta["name"].(string)
		if ns, _ := meta["namespace"].(string); ns != "" {
			o.Namespace = ns
		}
	}
	for _, k := range checkedKinds {
		if strings.EqualFold(k, kind) {
			o.Skip = fmt.Sprintf("kind %q is not %s: kinds are case-sensitive, and the API server would refuse it", kind, k)
			o.Unrecognised = true
			return o
		}
	}
	o.Skip = "kind " + kind + " holds no Pod and is not checked"
	return o
}

// decodeList expands the items of a List, each read as a document of its own.
func decodeList(kind string, items any, depth int) ([]Object, error) {
	l, ok := items.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: items: expected a list, found %s", kind, Shown(items))
	}
	var out []Object
	for i, item := range l {
		m, ok := item.(map[string]any)
		if !ok {
			return out, fmt.Errorf("%s: items[%d]: expected an object, found %s", kind, i, Shown(item))
		}
		b, err := json.Marshal(m)
		if err != nil {
			return out, fmt.Errorf("%s: items[%d]: %w", kind, i, err)
		}
		if _, hasKind := m["kind"].(string); !hasKind {
			return out, fmt.Errorf("%s: items[%d]: expected a Kubernetes object (apiVersion and kind)", kind, i)
		}
		objs, err := decodeDocument(m, b, depth+1)
		if err != nil {
			return out, fmt.Errorf("%s: items[%d]: %w", kind, i, err)
		}
		for j := range objs {
			objs[j].listItem = true
		}
		out = append(out, objs...)
	}
	return out, nil
}

// kestraFlow reads a KestraFlow resource (Kestra's operator): the flow is
// the YAML in spec.source.
func kestraFlow(head map[string]any) (Object, error) {
	o := Object{Kind: "KestraFlow"}
	if meta, ok := head["metadata"].(map[string]any); ok {
		o.Name, _ = meta["name"].(string)
		o.Namespace, _ = meta["namespace"].(string)
	}
	if o.Namespace == "" {
		o.Namespace = metav1.NamespaceDefault
	}
	spec, _ := head["spec"].(map[string]any)
	src, ok := spec["source"].(string)
	if !ok {
		return o, fmt.Errorf("KestraFlow: spec.source: expected the flow's YAML as a string, found %s", Shown(spec["source"]))
	}
	flow, err := ParseFlow([]byte(src))
	if err != nil {
		return o, fmt.Errorf("KestraFlow: spec.source: %w", err)
	}
	o.Flow = flow
	if o.Name == "" {
		o.Name, _ = flow["id"].(string)
	}
	return o, nil
}

// ParseFlow reads a flow's YAML into maps, keeping integers exact.
func ParseFlow(b []byte) (map[string]any, error) {
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return nil, fmt.Errorf("expected a flow in YAML: %w", err)
	}
	var v any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &v); err != nil {
		return nil, fmt.Errorf("expected a flow in YAML: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected a flow (a YAML object), found %s", Shown(v))
	}
	return m, nil
}

func (o *Object) decode(kind string, data []byte) error {
	strict := func(into any) error {
		strictErrs, err := kjson.UnmarshalStrict(data, into)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		if len(strictErrs) > 0 {
			msgs := make([]string, len(strictErrs))
			for i, e := range strictErrs {
				msgs[i] = e.Error()
			}
			return fmt.Errorf("%s: %s (keys are case-sensitive; unknown and repeated fields are refused, as kubectl does)", kind, strings.Join(msgs, "; "))
		}
		return nil
	}
	var meta *metav1.ObjectMeta
	var tmpl *corev1.PodTemplateSpec
	switch kind {
	case "Pod":
		o.Pod = &corev1.Pod{}
		if err := strict(o.Pod); err != nil {
			return err
		}
		meta = &o.Pod.ObjectMeta
	case "NetworkPolicy":
		o.NetworkPolicy = &networkingv1.NetworkPolicy{}
		if err := strict(o.NetworkPolicy); err != nil {
			return err
		}
		meta = &o.NetworkPolicy.ObjectMeta
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob":
		var err error
		meta, tmpl, err = WorkloadTemplate(kind, strict)
		if err != nil {
			return err
		}
	case "PolicyException":
		o.Exception = &v1alpha1.PolicyException{}
		if err := decodeException(data, strict, o.Exception); err != nil {
			return err
		}
		meta = &o.Exception.ObjectMeta
	default:
		return nil // other kinds are not checked
	}
	o.Kind, o.Namespace, o.Name = kind, meta.Namespace, meta.Name
	if o.Namespace == "" {
		o.Namespace = metav1.NamespaceDefault
	}
	if tmpl != nil {
		o.Pod = &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: tmpl.Spec}
		o.Pod.Namespace, o.Pod.Name = o.Namespace, o.Name
	} else if o.Pod != nil {
		o.Pod.Namespace = o.Namespace
	} else if o.Exception != nil {
		o.Exception.Namespace = o.Namespace
	} else {
		o.NetworkPolicy.Namespace = o.Namespace
	}
	return nil
}

// PodKinds are the kinds that hold a Pod or a Pod template.
var PodKinds = []string{"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}

// TemplatePath is the field path of the Pod template in an object of
// kind: spec.template in a Deployment, StatefulSet, DaemonSet, ReplicaSet
// or Job, spec.jobTemplate.spec.template in a CronJob; "" for a Pod and
// for kinds that hold no Pod.
func TemplatePath(kind string) string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return "spec.template"
	case "CronJob":
		return "spec.jobTemplate.spec.template"
	}
	return ""
}

// FieldInObject turns the path of a field of the Pod an object of kind
// holds (spec.hostPID) into its path in the object as written
// (spec.jobTemplate.spec.template.spec.hostPID in a CronJob). A path that
// is not in the Pod's spec or metadata (another object's) is returned as
// it is; so is every path of a Pod.
func FieldInObject(kind, field string) string {
	t := TemplatePath(kind)
	if t == "" {
		return field
	}
	for _, root := range []string{"spec", "metadata"} {
		if rest, ok := strings.CutPrefix(field, root); ok && (rest == "" || rest[0] == '.' || rest[0] == '[' || rest[0] == '=') {
			return t + "." + field
		}
	}
	return field
}

// WorkloadTemplate decodes a workload of kind (one of PodKinds but Pod)
// with decode and returns its metadata and its Pod template.
func WorkloadTemplate(kind string, decode func(any) error) (*metav1.ObjectMeta, *corev1.PodTemplateSpec, error) {
	switch kind {
	case "Deployment":
		var w appsv1.Deployment
		return &w.ObjectMeta, &w.Spec.Template, decode(&w)
	case "StatefulSet":
		var w appsv1.StatefulSet
		return &w.ObjectMeta, &w.Spec.Template, decode(&w)
	case "DaemonSet":
		var w appsv1.DaemonSet
		return &w.ObjectMeta, &w.Spec.Template, decode(&w)
	case "ReplicaSet":
		var w appsv1.ReplicaSet
		return &w.ObjectMeta, &w.Spec.Template, decode(&w)
	case "Job":
		var w batchv1.Job
		return &w.ObjectMeta, &w.Spec.Template, decode(&w)
	default:
		var w batchv1.CronJob
		return &w.ObjectMeta, &w.Spec.JobTemplate.Spec.Template, decode(&w)
	}
}

// Shown is how an error names a value decoded from YAML or JSON: a string
// quoted, an object or a list by its kind, anything else as it prints.
func Shown(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}
