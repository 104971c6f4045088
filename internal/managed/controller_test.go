package managed

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// A namespace whose policy keeps failing (kestra-guard's own NetworkPolicy
// webhook has no endpoint yet) is retried at least every MaxRetryDelay.
func TestRetryDelayBounded(t *testing.T) {
	l := retryLimiter()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Name: "runners"}}
	var last, longest = l.When(req), l.When(req)
	for i := 0; i < 40; i++ {
		last = l.When(req)
		longest = max(longest, last)
	}
	if longest > MaxRetryDelay {
		t.Errorf("after 42 failures the controller waits %v before the next attempt; want at most %v", longest, MaxRetryDelay)
	}
	if last != MaxRetryDelay {
		t.Errorf("after 42 failures the delay is %v; want the bound %v (the backoff is still exponential)", last, MaxRetryDelay)
	}
	l.Forget(req)
	if d := l.When(req); d > MaxRetryDelay/100 {
		t.Errorf("after a success the first retry waits %v; want a short delay", d)
	}
}
