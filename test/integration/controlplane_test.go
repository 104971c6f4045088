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

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "harness"}}
	if err := cp.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
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
}
