package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/test/framework"
)

// The harness starts a real kube-apiserver of the version k8s.io/api names,
// and objects round-trip through it.
func TestControlPlaneHarness(t *testing.T) {
	cp := framework.RunControlPlane(t)
	ctx := context.Background()

	v, err := cp.Clientset.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("reading the server version: %v", err)
	}
	if !strings.HasPrefix(v.GitVersion, "v1.37.") {
		t.Errorf("server version = %q, want v1.37.x (from k8s.io/api v0.37.x)", v.GitVersion)
	}

	cp.CreateNamespace(t, "harness", nil)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "harness", Labels: map[string]string{"kestra.io/taskrun-id": "abc"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
	}
	if err := cp.Client.Create(ctx, pod); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	var got corev1.Pod
	if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(pod), &got); err != nil {
		t.Fatalf("reading pod back: %v", err)
	}
	if got.Labels["kestra.io/taskrun-id"] != "abc" || got.Spec.Containers[0].Image != "busybox" {
		t.Errorf("pod read back = %+v, want the label and image it was created with", got.ObjectMeta)
	}
	// The admission plugins of a real cluster run: the ServiceAccount plugin
	// injected the token volume and its mount.
	if len(got.Spec.Volumes) != 1 || !strings.HasPrefix(got.Spec.Volumes[0].Name, "kube-api-access-") ||
		len(got.Spec.Containers[0].VolumeMounts) != 1 || got.Spec.Containers[0].VolumeMounts[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" {
		t.Errorf("the ServiceAccount plugin did not inject its token volume: volumes %v, mounts %v", got.Spec.Volumes, got.Spec.Containers[0].VolumeMounts)
	}
}
