package audit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/report"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// listCall is one List the audit made.
type listCall struct {
	kind, namespace, selector string
	limit                     int64
}

// recorder records the List calls made through it.
type recorder struct {
	client.Reader
	mu    sync.Mutex
	calls []listCall
}

func (r *recorder) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	sel := ""
	if o.LabelSelector != nil {
		sel = o.LabelSelector.String()
	}
	r.mu.Lock()
	r.calls = append(r.calls, listCall{fmt.Sprintf("%T", list), o.Namespace, sel, o.Limit})
	r.mu.Unlock()
	return r.Reader.List(ctx, list, opts...)
}

func (r *recorder) podLists() []listCall {
	var out []listCall
	for _, c := range r.calls {
		if c.kind == "*v1.PodList" {
			out = append(out, c)
		}
	}
	return out
}

func runner(ns, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"kestra.io/taskrun-id": "x"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "python:3.12"}}}}
}

func plain(ns, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}
}

// auditCluster is a runner namespace, two ordinary namespaces (one with a
// labelled task runner, one holding the managed policy and a policy that
// reopens egress, with no task runner) and kube-system.
func auditCluster(t *testing.T) (*recorder, *Auditor) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	allEgress := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "held", Name: "open"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, Egress: []networkingv1.NetworkPolicyEgressRule{{}}}}
	alsoOpen := allEgress.DeepCopy()
	alsoOpen.Name = "also-open"
	held := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "held", Name: managed.Name}}
	// The API server selects by metadata.name for every kind; the fake
	// client needs an index for it.
	byName := func(o client.Object) []string { return []string{o.GetName()} }
	c := fake.NewClientBuilder().WithScheme(scheme).WithIndex(&networkingv1.NetworkPolicy{}, "metadata.name", byName).WithObjects(
		ns("runners", map[string]string{scope.RunnerLabel: "true"}), ns("apps", nil), ns("held", nil), ns("kube-system", nil),
		runner("runners", "labelled"), plain("runners", "unlabelled"),
		runner("apps", "task"), plain("apps", "web-1"), plain("apps", "web-2"),
		plain("held", "web"), allEgress, alsoOpen, held,
		runner("kube-system", "ignored"),
	).Build()
	rec := &recorder{Reader: c}
	cfg := config.Default()
	compiled, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return rec, &Auditor{Reader: rec, Config: compiled}
}

func names(rs []report.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Kind+" "+r.Namespace+"/"+r.Name)
	}
	slices.Sort(out)
	return out
}

// The audit asks the API server for task runners only: the Pods of runner
// namespaces whole, elsewhere those the task-runner selector matches,
// selected server-side. It still judges every task runner, and the
// NetworkPolicies of a namespace that holds the managed policy.
func TestAuditListsOnlyTaskRunners(t *testing.T) {
	rec, a := auditCluster(t)
	results, err := a.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"NetworkPolicy held/also-open", "NetworkPolicy held/open", "Pod apps/task", "Pod runners/labelled", "Pod runners/unlabelled"}
	if got := names(results); !slices.Equal(got, want) {
		t.Errorf("judged %v, want %v", got, want)
	}
	sel := a.Config.TaskRunnerSelector
	for _, c := range rec.podLists() {
		if c.namespace == "runners" {
			if c.selector != "" {
				t.Errorf("the runner namespace was listed with selector %q, want every Pod", c.selector)
			}
			continue
		}
		if c.selector != sel {
			t.Errorf("Pods of namespace %q listed with selector %q, want the task-runner selector %q", c.namespace, c.selector, sel)
		}
	}
	if n := len(rec.podLists()); n != 2 {
		t.Errorf("%d Pod lists (%v), want 2: the runner namespace, and one cluster-wide by selector", n, rec.podLists())
	}
}

// Every list call asks for one page of PageSize objects, DefaultPageSize
// when unset.
func TestAuditPageSize(t *testing.T) {
	for _, size := range []int{0, 1, 250} {
		rec, a := auditCluster(t)
		a.PageSize = size
		if _, err := a.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := int64(size)
		if size == 0 {
			want = DefaultPageSize
		}
		if len(rec.calls) == 0 {
			t.Fatal("no list call recorded")
		}
		for _, c := range rec.calls {
			if c.limit != want {
				t.Errorf("PageSize %d: %s listed with limit %d, want %d", size, c.kind, c.limit, want)
			}
		}
	}
}

// With Pace, each list call to the API server waits its turn: a limiter
// that allows one call an hour lets the first through, and the pass then
// stops at the second (its wait would outlast the context) rather than
// make it.
func TestAuditPace(t *testing.T) {
	rec, a := auditCluster(t)
	a.Pace = rate.NewLimiter(rate.Every(time.Hour), 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := a.Run(ctx)
	if err == nil {
		t.Fatal("the pass ended with every list made; want it stopped by the pace")
	}
	if len(rec.calls) != 1 {
		t.Errorf("%d list calls (%v) before the pace stopped the pass, want 1", len(rec.calls), rec.calls)
	}
}

// As the server runs it, with the informer cache: only the calls to the API
// server (Pod lists) wait on the pace, not the cache's reads. Were the
// cache's reads paced, the first (namespaces) would take the only call of
// the hour and no Pod list would be made.
func TestAuditPaceSparesTheCache(t *testing.T) {
	rec, a := auditCluster(t)
	a.Cache = rec.Reader
	a.Pace = rate.NewLimiter(rate.Every(time.Hour), 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := a.Run(ctx); err == nil {
		t.Fatal("the pass ended with every list made; want it stopped by the pace at its second Pod list")
	}
	if n := len(rec.podLists()); n != 1 || len(rec.calls) != 1 {
		t.Errorf("%d calls to the API server (%v), want 1 Pod list", len(rec.calls), rec.calls)
	}
}

// pagedReader serves Pods a and b in two pages, and refuses the first
// page's continue token as expired (410 Gone), handing a token that goes
// on.
type pagedReader struct {
	client.Reader
	tokens []string
}

func (p *pagedReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	p.tokens = append(p.tokens, o.Continue)
	l := list.(*corev1.PodList)
	switch o.Continue {
	case "":
		l.Items, l.Continue = []corev1.Pod{*runner("n", "a")}, "first"
	case "first":
		gone := apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result.")
		gone.ErrStatus.Continue = "resume"
		return gone
	case "resume":
		l.Items, l.Continue = []corev1.Pod{*runner("n", "b")}, ""
	default:
		return fmt.Errorf("unexpected continue token %q", o.Continue)
	}
	return nil
}

// A list whose continue token expired mid-way (a paced pass over a large
// cluster can outlive etcd's compaction) goes on with the token the 410
// carries instead of failing the pass every time.
func TestPaginateGoesOnAfterAnExpiredToken(t *testing.T) {
	r := &pagedReader{}
	var l corev1.PodList
	if err := paginate(context.Background(), r, &l, &l.Items, nil, "pods", "", nil); err != nil {
		t.Fatalf("paginate: %v (continue tokens sent: %q)", err, r.tokens)
	}
	var got []string
	for _, p := range l.Items {
		got = append(got, p.Name)
	}
	if !slices.Equal(got, []string{"a", "b"}) || !slices.Equal(r.tokens, []string{"", "first", "resume"}) {
		t.Errorf("read %v with continue tokens %q; want [a b] with [\"\" first resume]", got, r.tokens)
	}
}

// With a namespace given, it is listed by selector too.
func TestAuditNamedNamespaceBySelector(t *testing.T) {
	rec, a := auditCluster(t)
	results, err := a.Run(context.Background(), "apps")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(results); !slices.Equal(got, []string{"Pod apps/task"}) {
		t.Errorf("judged %v", got)
	}
	for _, c := range rec.podLists() {
		if c.selector != a.Config.TaskRunnerSelector {
			t.Errorf("Pods of %q listed with selector %q", c.namespace, c.selector)
		}
	}
}

// A cluster-wide list that returns a namespace's Pods in two runs (out of
// key order) does not lose or double them: the namespace is audited again
// on its own, and Run keeps the complete results.
func TestAuditOutOfOrderList(t *testing.T) {
	rec, a := auditCluster(t)
	a.Reader = &shuffled{recorder: rec}
	results, err := a.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"NetworkPolicy held/also-open", "NetworkPolicy held/open", "Pod apps/task", "Pod apps/task-2", "Pod held/x", "Pod runners/labelled", "Pod runners/unlabelled"}
	if got := names(results); !slices.Equal(got, want) {
		t.Errorf("judged %v, want %v", got, want)
	}
}

// shuffled adds to the cluster-wide Pod list a task runner in held, then a
// second one in apps (whose first came before), and the latter to the list
// of apps.
type shuffled struct{ *recorder }

func (s *shuffled) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := s.recorder.List(ctx, list, opts...); err != nil {
		return err
	}
	o := (&client.ListOptions{}).ApplyOptions(opts)
	if l, ok := list.(*corev1.PodList); ok && o.LabelSelector != nil {
		extra := *runner("apps", "task-2")
		if o.Namespace == "" {
			l.Items = append(l.Items, *runner("held", "x"), extra)
		} else if o.Namespace == "apps" {
			l.Items = append(l.Items, extra)
		}
	}
	return nil
}

// reversed lists NetworkPolicies in reverse order on every other call, as
// the informer cache may (it lists in no fixed order).
type reversed struct {
	client.Reader
	calls int
}

func (r *reversed) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := r.Reader.List(ctx, list, opts...); err != nil {
		return err
	}
	if l, ok := list.(*networkingv1.NetworkPolicyList); ok {
		if r.calls++; r.calls%2 == 0 {
			slices.Reverse(l.Items)
		}
	}
	return nil
}

// The same cluster gives the same findings whatever order the cache lists
// policies in: an unchanged namespace's findings hash, and so its
// PolicyReport, stay the same.
func TestAuditFindingsDoNotDependOnListOrder(t *testing.T) {
	rec, a := auditCluster(t)
	a.Cache = &reversed{Reader: rec}
	var hashes []uint64
	for range 4 {
		results, err := a.Run(context.Background(), "held")
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, findingsHash(results))
	}
	if len(slices.Compact(slices.Clone(hashes))) != 1 {
		t.Errorf("findings hashes %v: the findings change with the order of the policies", hashes)
	}
}
