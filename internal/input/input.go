// Package input reads the files `check` and `mutate` are given: YAML
// (multi-document) or JSON holding Pods, workloads with Pod templates,
// NetworkPolicies and Kestra flows.
package input

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// Flow is set for Kestra flows.
	Flow map[string]any
	// Exception is set for kestra-guard PolicyExceptions.
	Exception *v1alpha1.PolicyException
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
// .json files) or "-" for stdin.
func Read(paths []string, stdin io.Reader) ([]Object, error) {
	var out []Object
	for _, p := range paths {
		if p == "-" {
			b, err := io.ReadAll(stdin)
			if err != nil {
				return nil, &Error{File: "<stdin>", Err: err}
			}
			objs, err := Parse("<stdin>", b)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
			continue
		}
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return &Error{File: path, Err: err}
			}
			if d.IsDir() || (path != p && !isManifest(path)) {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return &Error{File: path, Err: err}
			}
			objs, err := Parse(path, b)
			out = append(out, objs...)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isManifest(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

type document struct {
	line int
	data []byte
}

// splitDocuments splits YAML at "---" lines, keeping each document's first line.
func splitDocuments(b []byte) []document {
	var docs []document
	cur := document{line: 1}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), len(b)+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if bytes.Equal(bytes.TrimRight(line, " \t\r"), []byte("---")) || bytes.HasPrefix(line, []byte("--- ")) {
			docs = append(docs, cur)
			cur = document{line: n + 1}
			continue
		}
		cur.data = append(append(cur.data, line...), '\n')
	}
	return append(docs, cur)
}

// Parse reads the documents of one file.
func Parse(file string, b []byte) ([]Object, error) {
	var out []Object
	docNo := 0
	for _, d := range splitDocuments(b) {
		var head map[string]any
		if err := yaml.Unmarshal(d.data, &head); err != nil {
			return out, &Error{File: file, Doc: docNo + 1, Line: d.line, Err: fmt.Errorf("expected YAML or JSON: %w", err)}
		}
		if head == nil {
			continue // empty or comments only
		}
		docNo++
		obj := Object{File: file, Doc: docNo, Line: d.line}
		if err := obj.decode(head, d.data); err != nil {
			return out, &Error{File: file, Doc: docNo, Line: d.line, Err: err}
		}
		if obj.Kind != "" {
			out = append(out, obj)
		}
	}
	return out, nil
}

func (o *Object) decode(head map[string]any, data []byte) error {
	kind, _ := head["kind"].(string)
	if kind == "" {
		if _, isFlow := head["tasks"]; isFlow && head["id"] != nil && head["namespace"] != nil {
			o.Kind, o.Flow = "Flow", head
			o.Namespace, _ = head["namespace"].(string)
			o.Name, _ = head["id"].(string)
			return nil
		}
		return fmt.Errorf("expected a Kubernetes object (apiVersion and kind) or a Kestra flow (id, namespace and tasks)")
	}
	strict := func(into any) error {
		if err := yaml.UnmarshalStrict(data, into); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
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
		meta, tmpl, err = workloadTemplate(kind, strict)
		if err != nil {
			return err
		}
	case "PolicyException":
		o.Exception = &v1alpha1.PolicyException{}
		if err := decodeException(strict, o.Exception); err != nil {
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

func workloadTemplate(kind string, strict func(any) error) (*metav1.ObjectMeta, *corev1.PodTemplateSpec, error) {
	switch kind {
	case "Deployment":
		var w appsv1.Deployment
		return &w.ObjectMeta, &w.Spec.Template, strict(&w)
	case "StatefulSet":
		var w appsv1.StatefulSet
		return &w.ObjectMeta, &w.Spec.Template, strict(&w)
	case "DaemonSet":
		var w appsv1.DaemonSet
		return &w.ObjectMeta, &w.Spec.Template, strict(&w)
	case "ReplicaSet":
		var w appsv1.ReplicaSet
		return &w.ObjectMeta, &w.Spec.Template, strict(&w)
	case "Job":
		var w batchv1.Job
		return &w.ObjectMeta, &w.Spec.Template, strict(&w)
	default:
		var w batchv1.CronJob
		return &w.ObjectMeta, &w.Spec.JobTemplate.Spec.Template, strict(&w)
	}
}
