package main

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/hack/internal/benchkit"
	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// The full size is the cluster, and a smaller size keeps its
// proportions.
func TestSizes(t *testing.T) {
	full, err := sizeFor(100_000)
	if err != nil {
		t.Fatal(err)
	}
	if full.Pods() != 100_000 || full.Runners() != 10_000 || full.Namespaces() != 2000 || full.RunnerNS != 200 ||
		full.NetworkPolicies() != 20_000 || full.Exceptions() != 500 {
		t.Errorf("full size: %s", full)
	}
	tenth, err := sizeFor(10_000)
	if err != nil {
		t.Fatal(err)
	}
	if tenth.Pods() != 10_000 || tenth.Runners() != 1000 || tenth.Namespaces() != 200 || tenth.NetworkPolicies() != 2000 || tenth.Exceptions() != 50 {
		t.Errorf("10,000 Pods: %s", tenth)
	}
	if _, err := sizeFor(750); err == nil || !strings.Contains(err.Error(), "multiple of 500") {
		t.Errorf("sizeFor(750) = %v, want an error naming the multiple", err)
	}
}

func TestParseRequests(t *testing.T) {
	metrics := `# HELP apiserver_request_total x
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="cluster",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="binding",verb="POST",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="",scope="",subresource="/metrics",verb="GET",version=""} 99
`
	got, err := parseRequests([]byte(metrics))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["LIST pods"] != 10 || got["POST pods/binding"] != 2 {
		t.Errorf("parseRequests = %v", got)
	}
	d := got.minus(requests{"LIST pods": 4})
	if d["LIST pods"] != 6 || d.total() != 8 || d.sorted()[0] != "LIST pods" {
		t.Errorf("minus = %v", d)
	}
}

// The harness builds its cluster through the real API server: a small
// size, checked object by object kind.
func TestBuildSmallCluster(t *testing.T) {
	cp := framework.RunControlPlane(t, framework.WithExceptionCRD)
	scheme := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rc := rest.CopyConfig(cp.Config)
	rc.QPS, rc.Burst = 1000, 2000
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sizeFor(500)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := &builder{c: c, conc: 16}
	if err := b.grow(ctx, size{}, s, func(m string) { t.Log(m) }); err != nil {
		t.Fatal(err)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods); err != nil {
		t.Fatal(err)
	}
	sel, _ := labels.Parse(config.Default().TaskRunnerSelector)
	runners, inRunnerNS, withManagedFields := 0, 0, 0
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Namespace, "scale-") {
			continue
		}
		if sel.Matches(labels.Set(p.Labels)) {
			runners++
		}
		if strings.HasPrefix(p.Namespace, "scale-runners-") {
			inRunnerNS++
		}
		if len(p.ManagedFields) > 0 {
			withManagedFields++
		}
	}
	if n := countIn(pods.Items); n != s.Pods() || runners != s.Runners() || inRunnerNS != s.RunnerNS*podsPerRunnerNS || withManagedFields != n {
		t.Errorf("%d Pods (want %d), %d task runners (want %d), %d in runner namespaces, %d with managedFields", n, s.Pods(), runners, s.Runners(), inRunnerNS, withManagedFields)
	}
	var pols networkingv1.NetworkPolicyList
	if err := c.List(ctx, &pols); err != nil {
		t.Fatal(err)
	}
	var excs v1alpha1.PolicyExceptionList
	if err := c.List(ctx, &excs); err != nil {
		t.Fatal(err)
	}
	if len(pols.Items) != s.NetworkPolicies() || len(excs.Items) != s.Exceptions() {
		t.Errorf("%d NetworkPolicies (want %d), %d PolicyExceptions (want %d)", len(pols.Items), s.NetworkPolicies(), len(excs.Items), s.Exceptions())
	}
	var ns corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: runnerNS(0)}, &ns); err != nil || ns.Labels[scope.RunnerLabel] != "true" {
		t.Errorf("runner namespace %s: labels %v, err %v", runnerNS(0), ns.Labels, err)
	}
}

func countIn(pods []corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if strings.HasPrefix(p.Namespace, "scale-") {
			n++
		}
	}
	return n
}

// The whole run at two small sizes: kestra-guard built and started, every
// figure measured. It takes about five minutes (two audit intervals of a
// minute at each size), so it runs only with KG_SCALE_SMOKE=1.
func TestScaleSmoke(t *testing.T) {
	if os.Getenv("KG_SCALE_SMOKE") == "" {
		t.Skip("set KG_SCALE_SMOKE=1 to run the whole harness at 500 and 1,000 Pods (about 5 min)")
	}
	o := options{pods: []int{500, 1000}, interval: time.Minute, sample: 3 * time.Second, admissionConc: 2, churn: 100, conc: 16, workDir: t.TempDir(), src: framework.RepoRoot()}
	rep, err := run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	md := rep.markdown()
	for _, want := range []string{benchkit.ScaleBegin, benchkit.ScaleEnd, "| start to ready (s) |", "RSS at most 150 MiB after sync"} {
		if !strings.Contains(md, want) {
			t.Errorf("the section lacks %q:\n%s", want, md)
		}
	}
	for _, res := range rep.results {
		if res.quiet.pods != res.size.Runners() {
			t.Errorf("at %d Pods the audit judged %d task runners, want %d", res.size.Pods(), res.quiet.pods, res.size.Runners())
		}
	}
}

// liveHeap reads the inuse_space of a heap profile: that of this test
// process holds at least what it keeps alive here.
func TestLiveHeap(t *testing.T) {
	keep := make([][]byte, 64)
	for i := range keep {
		keep[i] = make([]byte, 1<<20) // 64 MiB, well above the sampling
	}
	runtime.GC()
	var b bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&b, 0); err != nil {
		t.Fatal(err)
	}
	live, err := liveHeap(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if live < 48 || live > 1024 {
		t.Errorf("live heap %.1f MiB with 64 MiB kept alive", live)
	}
	runtime.KeepAlive(keep)
	if _, err := liveHeap([]byte("not a profile")); err == nil {
		t.Error("a file that is no profile was read")
	}
}
