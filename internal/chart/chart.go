// Package chart renders charts/kestra-guard with Helm's own engine, so that
// tests, `make run` and the kustomize bases install exactly what Helm does.
package chart

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/charts"
)

// Dir is the chart's folder in this repository.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "charts", "kestra-guard")
}

// Render renders the chart as release name in namespace with values over
// the chart's defaults, validated against values.schema.json, and returns
// the objects in file order.
func Render(name, namespace string, values map[string]any) ([]*unstructured.Unstructured, error) {
	ch, err := load()
	if err != nil {
		return nil, err
	}
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{Name: name, Namespace: namespace, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("rendering chart: %w", err)
	}
	names := make([]string, 0, len(files))
	for f := range files {
		if strings.HasSuffix(f, ".yaml") {
			names = append(names, f)
		}
	}
	slices.Sort(names)
	var out []*unstructured.Unstructured
	for _, f := range names {
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(files[f]), 4096)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); err != nil {
				if err.Error() == "EOF" {
					break
				}
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if obj != nil {
				out = append(out, &unstructured.Unstructured{Object: obj})
			}
		}
	}
	return out, nil
}

// load reads the chart embedded in the binary (the files of Dir()).
func load() (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(charts.FS, "kestra-guard", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := charts.FS.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(p, "kestra-guard/"), Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading chart: %w", err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("loading chart: %w", err)
	}
	return ch, nil
}

// ConfigFromValues renders the chart with a values file (YAML, over the
// chart's defaults and checked against its schema) and returns the
// config.yaml of its ConfigMap: the configuration the server would run with
// when installed in namespace.
func ConfigFromValues(valuesYAML []byte, namespace string) ([]byte, error) {
	var vals map[string]any
	if err := yaml.Unmarshal(valuesYAML, &vals); err != nil {
		return nil, fmt.Errorf("reading values: %w", err)
	}
	objs, err := Render("kestra-guard", namespace, vals)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" {
			continue
		}
		s, ok, _ := unstructured.NestedString(o.Object, "data", "config.yaml")
		if ok {
			return []byte(s), nil
		}
	}
	return nil, errors.New("the chart rendered no ConfigMap with config.yaml")
}

// Package writes the chart as Helm packages it (.helmignore honoured) into
// dir and returns the archive's path.
func Package(dir string) (string, error) {
	ch, err := loader.Load(Dir())
	if err != nil {
		return "", fmt.Errorf("loading chart: %w", err)
	}
	if err := ch.Validate(); err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	return chartutil.Save(ch, dir)
}
