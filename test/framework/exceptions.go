package framework

import (
	"path/filepath"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// WithExceptionCRD installs the chart's PolicyException CRD (as Helm installs
// the chart's crds folder). StartWithChartWebhooks always applies it: the
// server's cache needs the type.
func WithExceptionCRD(env *envtest.Environment) {
	dir := filepath.Join(RepoRoot(), "charts", "kestra-guard", "crds")
	if slices.Contains(env.CRDInstallOptions.Paths, dir) {
		return
	}
	env.CRDInstallOptions.Paths = append(env.CRDInstallOptions.Paths, dir)
	env.CRDInstallOptions.ErrorIfPathMissing = true
}
