package chart

import (
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Kustomize renders the chart's defaults as a kustomize base: one file per
// kind plus kustomization.yaml, keyed by file name.
func Kustomize() (map[string][]byte, error) {
	objs, err := Render("kestra-guard", "kestra-guard", nil)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	var order []string
	crds, err := crdFiles()
	if err != nil {
		return nil, err
	}
	for _, c := range crds {
		files[c.name] = c.data
		order = append(order, c.name)
	}
	for _, o := range objs {
		name := strings.ToLower(o.GetKind()) + ".yaml"
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		if _, seen := files[name]; !seen {
			order = append(order, name)
			files[name] = []byte("# Generated from charts/kestra-guard by `make manifests`; do not edit.\n")
		} else {
			files[name] = append(files[name], "---\n"...)
		}
		files[name] = append(files[name], b...)
	}
	var k bytes.Buffer
	k.WriteString("# Generated from charts/kestra-guard by `make manifests`; do not edit.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: kestra-guard\nresources:\n")
	for _, n := range order {
		fmt.Fprintf(&k, "  - %s\n", n)
	}
	files["kustomization.yaml"] = k.Bytes()
	return files, nil
}
