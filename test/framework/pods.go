package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/config"
)

// PassingTaskRunner is a typical hardened Kestra task runner that every rule
// admits: one init container, the main container and the file sidecar,
// emptyDirs for /kestra and /tmp. kestra-guard's mutation still adds HOME to
// each container; WithHome gives the Pod it leaves unchanged. hack/capture
// records its reviews and hack/bench creates it.
func PassingTaskRunner(ns, name string) *corev1.Pod {
	sc := func() *corev1.SecurityContext {
		return &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	}
	mounts := []corev1.VolumeMount{{Name: "kestra-files", MountPath: "/kestra"}, {Name: "tmp", MountPath: "/tmp"}}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"kestra.io/taskrun-id": "2ZAfRgXT5GaxBlyHtZ2HC7", "kestra.io/flow-id": "hello"}},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532),
				FSGroup: ptr.To[int64](65532), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			InitContainers: []corev1.Container{{Name: "init-files", Image: "busybox", Command: []string{"sh", "-c", "sleep 1"}, VolumeMounts: mounts, SecurityContext: sc()}},
			Containers: []corev1.Container{
				{Name: "main", Image: "python:3.12", Command: []string{"python", "main.py"}, VolumeMounts: mounts, SecurityContext: sc()},
				{Name: "out-files", Image: "busybox", Command: []string{"sh", "-c", "sleep 1"}, VolumeMounts: mounts, SecurityContext: sc()},
			},
			Volumes: []corev1.Volume{
				{Name: "kestra-files", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
}

// WithHome sets HOME=/tmp in every container of p, as kestra-guard's
// mutation does, and returns p.
func WithHome(p *corev1.Pod) *corev1.Pod {
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			cs[i].Env = append(cs[i].Env, corev1.EnvVar{Name: "HOME", Value: "/tmp"})
		}
	}
	return p
}

// Gated puts the start gate of cfg first in p's init containers, as the
// mutating webhook does: a Pod posted straight to the validating webhook
// needs it when the gate is on (the chart's default).
func Gated(cfg config.Config, p *corev1.Pod) *corev1.Pod {
	c, err := cfg.Compile()
	if err != nil {
		panic(fmt.Sprintf("compiling the configuration: %v", err))
	}
	if g := c.Engine.Options().Gate; g != nil {
		p = p.DeepCopy()
		p.Spec.InitContainers = append([]corev1.Container{*g.DeepCopy()}, p.Spec.InitContainers...)
	}
	return p
}

// PodFixtures are the rule fixtures of internal/policy/testdata/pods by
// file name: whole Pods, decoded strictly, each with the annotation naming
// the rules it breaks (internal/policy's TestPodFixtures).
func PodFixtures(t testing.TB) map[string]*corev1.Pod {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(RepoRoot(), "internal", "policy", "testdata", "pods", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Pod fixtures in internal/policy/testdata/pods: %v", err)
	}
	out := make(map[string]*corev1.Pod, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var p corev1.Pod
		if err := yaml.UnmarshalStrict(b, &p); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = &p
	}
	return out
}
