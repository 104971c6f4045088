package gatewatch

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

const gateMsg = "kestra-guard start gate: after 1m0s, 169.254.77.77:80 (reached 300 times) still reachable from this Pod: NetworkPolicy is not enforced for it"

func pod(name string, gate corev1.ContainerStatus) *corev1.Pod {
	gate.Name = policy.GateContainerName
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "runners", Name: name, Labels: map[string]string{policy.GateLabel: "true"}},
		Status: corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{gate, {Name: "init-files"}}}}
}

func failed(code int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", Message: gateMsg}}
}

// A failed gate gives one Warning Event naming the Pod and carrying the
// gate's message, and one count; seen again, nothing more; failed again
// after a restart, one more. A gate that passed or still runs gives none.
func TestFailedGateReportedOnce(t *testing.T) {
	c := fake.NewClientBuilder().WithObjects(
		pod("failed", corev1.ContainerStatus{State: failed(1)}),
		pod("passed", corev1.ContainerStatus{State: failed(0)}),
		pod("running", corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}),
	).Build()
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Client: c, Recorder: rec, Failures: NewFailures()}
	reconcileAll := func(names ...string) {
		for _, n := range names {
			if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "runners", Name: n}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	reconcileAll("failed", "passed", "running", "failed", "gone")
	if got := testutil.ToFloat64(r.Failures); got != 1 {
		t.Errorf("failures counted %v, want 1", got)
	}
	if len(rec.Events) != 1 {
		t.Fatalf("%d events, want 1", len(rec.Events))
	}
	if e := <-rec.Events; !strings.Contains(e, "Warning StartGateFailed") || !strings.Contains(e, "runners/failed") || !strings.Contains(e, "169.254.77.77:80") {
		t.Errorf("event %q: want a Warning StartGateFailed naming the Pod and the gate's message", e)
	}
	restarted := pod("failed", corev1.ContainerStatus{RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, LastTerminationState: failed(1)})
	var cur corev1.Pod
	_ = c.Get(context.Background(), types.NamespacedName{Namespace: "runners", Name: "failed"}, &cur)
	restarted.ResourceVersion = cur.ResourceVersion
	if err := c.Status().Update(context.Background(), restarted); err != nil {
		t.Fatal(err)
	}
	reconcileAll("failed")
	if got := testutil.ToFloat64(r.Failures); got != 2 || len(rec.Events) != 1 {
		t.Errorf("after a restart that failed again: %v failures, %d new events; want 2 and 1", got, len(rec.Events))
	}
}
