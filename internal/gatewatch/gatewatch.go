// Package gatewatch reports start gates that failed: for each Pod labelled
// policy.GateLabel whose gate container ended with an error (an endpoint
// stayed reachable: the network does not enforce NetworkPolicy for the Pod),
// it records a Warning Event on the Pod, with the gate's own message, and
// counts it. It reads Pods from a cache that holds only those labelled Pods.
package gatewatch

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// Reason is the Event's reason.
const Reason = "StartGateFailed"

// NewFailures is the counter of failed start gates (no label: a namespace
// or Pod name would not be bounded; the Event names the Pod).
func NewFailures() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kestra_guard_start_gate_failures_total",
		Help: "Start gates that ended with an error: a metadata endpoint stayed reachable from a guarded Pod (NetworkPolicy not enforced for it).",
	})
}

// Reconciler reports each failure of a gate once (per Pod and restart).
type Reconciler struct {
	Client   client.Reader
	Recorder events.EventRecorder
	Failures prometheus.Counter

	mu sync.Mutex
	// reported holds, by Pod, the last restart count reported.
	reported map[types.NamespacedName]int32
}

func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pod corev1.Pod
	if err := r.Client.Get(ctx, req.NamespacedName, &pod); err != nil {
		r.mu.Lock()
		delete(r.reported, req.NamespacedName)
		r.mu.Unlock()
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	failed, restarts := Failed(&pod)
	if failed == nil {
		return reconcile.Result{}, nil
	}
	r.mu.Lock()
	if r.reported == nil {
		r.reported = map[types.NamespacedName]int32{}
	}
	last, seen := r.reported[req.NamespacedName]
	if seen && last >= restarts {
		r.mu.Unlock()
		return reconcile.Result{}, nil
	}
	r.reported[req.NamespacedName] = restarts
	r.mu.Unlock()
	r.Failures.Inc()
	msg := failed.Message
	if msg == "" {
		msg = fmt.Sprintf("exit code %d (%s)", failed.ExitCode, failed.Reason)
	}
	r.Recorder.Eventf(&pod, nil, corev1.EventTypeWarning, Reason, "StartGate", "kestra-guard: the start gate of Pod %s/%s failed, so its task did not start: %s", pod.Namespace, pod.Name, msg)
	return reconcile.Result{}, nil
}

// Failed returns the gate's failed termination (the current one, or the
// last before a restart) and the gate's restart count; nil when the gate
// has not failed.
func Failed(pod *corev1.Pod) (*corev1.ContainerStateTerminated, int32) {
	for i := range pod.Status.InitContainerStatuses {
		s := &pod.Status.InitContainerStatuses[i]
		if s.Name != policy.GateContainerName {
			continue
		}
		if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
			return t, s.RestartCount
		}
		if t := s.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 {
			return t, s.RestartCount
		}
	}
	return nil, 0
}

// SetupWithManager watches the Pods of the manager's cache, which the
// server limits to those labelled policy.GateLabel.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("start-gate").For(&corev1.Pod{}).Complete(r)
}
