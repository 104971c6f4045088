package framework

import (
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// WithExceptionCRD installs the chart's PolicyException CRD.
func WithExceptionCRD(env *envtest.Environment) {
	env.CRDInstallOptions.Paths = append(env.CRDInstallOptions.Paths, filepath.Join(RepoRoot(), "charts", "kestra-guard", "crds"))
	env.CRDInstallOptions.ErrorIfPathMissing = true
}
