// Command scale measures what a big cluster costs kestra-guard (issue 26):
// against the real kube-apiserver and etcd built here (no node: Pods stay
// Pending) it builds a cluster of namespaces, Pods (task runners among
// them), NetworkPolicies and PolicyExceptions, starts `kestra-guard serve`
// as its own process, and measures start-up, memory, the background audit
// and admission latency, at each size in turn (the cluster grows in place).
// It writes its section of BENCHMARKS.md between markers.
//
// `make scale` runs it at 10,000 and 100,000 Pods; -pods 500,5000 is a
// smoke run of a few minutes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/pprof/profile"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/hack/internal/benchkit"
	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/internal/server"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// Namespaces of the run's own: where admission is measured (a runner
// namespace) and where Pods churn (an ordinary one).
const (
	nsAdmission = "scale-admission"
	nsChurn     = "scale-churn"
)

type options struct {
	pods          []int
	out           string
	interval      time.Duration
	sample        time.Duration // how long the idle and churn-alone admission samples run
	admissionConc int
	churn         int
	conc          int
	workDir       string
	src           string // the source kestra-guard is built from
}

func main() {
	ctrl.SetLogger(logr.Discard())
	var o options
	var pods string
	flag.StringVar(&pods, "pods", "10000,100000", "comma-separated cluster sizes in Pods, smallest first (multiples of 500; the other objects in proportion)")
	flag.StringVar(&o.out, "out", filepath.Join(framework.RepoRoot(), "BENCHMARKS.md"), "file whose scale section is written (empty: print it)")
	flag.DurationVar(&o.interval, "audit-interval", time.Minute, "kestra-guard's audit.interval (at least 1m)")
	flag.DurationVar(&o.sample, "sample", 12*time.Second, "how long the idle and the churn-alone admission samples run, each between two audit passes")
	flag.IntVar(&o.admissionConc, "admission-conc", 4, "clients creating task-runner Pods during the admission samples")
	flag.IntVar(&o.churn, "churn", 1000, "Pods created and deleted in another namespace, again and again, during the busy audit pass and between passes")
	flag.IntVar(&o.conc, "conc", 48, "clients building the cluster")
	flag.StringVar(&o.workDir, "work-dir", "", "folder for kestra-guard's log and heap profiles (default: a new temporary folder)")
	flag.StringVar(&o.src, "src", framework.RepoRoot(), "folder of the kestra-guard source to build and measure (an earlier commit, for a before-and-after); it is given this tree's configuration, which a tree before 437ece5 refuses (audit.pageSize, audit.listsPerSecond), and the report names this tree's audit settings")
	flag.Parse()
	for _, p := range strings.Split(pods, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			fmt.Fprintf(os.Stderr, "scale: -pods %q: expected comma-separated numbers\n", pods)
			os.Exit(2)
		}
		o.pods = append(o.pods, n)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rep, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	section := rep.markdown()
	if o.out == "" {
		fmt.Print(section)
		return
	}
	if err := writeSection(o.out, section); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	fmt.Print(rep.summary())
	fmt.Println("scale: wrote", o.out)
}

func step(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "scale %s: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func run(ctx context.Context, o options) (*report, error) {
	var sizes []size
	for i, p := range o.pods {
		s, err := sizeFor(p)
		if err != nil {
			return nil, err
		}
		if i > 0 && (s.RunnerNS <= sizes[i-1].RunnerNS) {
			return nil, fmt.Errorf("-pods: sizes must grow: %d after %d", p, o.pods[i-1])
		}
		sizes = append(sizes, s)
	}
	if o.workDir == "" {
		d, err := os.MkdirTemp("", "kestra-guard-scale")
		if err != nil {
			return nil, err
		}
		o.workDir = d
	}
	rep := &report{started: time.Now(), opts: o}
	step("building kestra-guard")
	bin := filepath.Join(o.workDir, "kestra-guard")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/kestra-guard")
	build.Dir, build.Stderr, build.Env = o.src, os.Stderr, append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building kestra-guard: %w", err)
	}
	step("starting kube-apiserver and etcd")
	h, err := startHarness(ctx, o)
	if err != nil {
		return nil, err
	}
	defer h.stop()
	rep.versions = h.versions
	rep.audit = h.cfg.Audit
	rep.memLimit = h.memLimit
	prev := size{}
	for i, s := range sizes {
		step("size %d of %d: %s", i+1, len(sizes), s)
		res, err := h.measure(ctx, bin, prev, s, i == 0)
		if err != nil {
			return nil, fmt.Errorf("at %d Pods: %w", s.Pods(), err)
		}
		rep.results = append(rep.results, res)
		prev = s
	}
	rep.workDir = o.workDir
	return rep, nil
}

// harness is the control plane, its clients, and what the run keeps
// between sizes.
type harness struct {
	o        options
	cp       *framework.ControlPlane
	stopCP   func() error
	fast     client.Client // raised QPS and Burst
	cfg      config.Config
	hooks    []client.Object // the webhook configurations, removed while building
	env      []string        // kestra-guard's environment (KUBECONFIG)
	cfgFile  string
	versions string
	memLimit int64 // the chart's memory limit, bytes
}

func startHarness(ctx context.Context, o options) (*harness, error) {
	cp, cfg, stopCP, err := framework.StartWithChartWebhooks(nil, framework.WithPolicyReportCRD, func(env *envtest.Environment) {
		// The defaults (400 requests in flight, 200 mutating) are what the
		// cluster serves kestra-guard with; only the event TTL is cut, so
		// that the audit's Events of one size are not counted at the next.
		env.ControlPlane.GetAPIServer().Configure().Set("event-ttl", "5m")
	})
	if err != nil {
		return nil, err
	}
	h := &harness{o: o, cp: cp, stopCP: stopCP}
	fail := func(err error) (*harness, error) { _ = stopCP(); return nil, err }
	scheme := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fail(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return fail(err)
	}
	fastCfg := rest.CopyConfig(cp.Config)
	fastCfg.QPS, fastCfg.Burst = 5000, 10000
	if h.fast, err = client.New(fastCfg, client.Options{Scheme: scheme}); err != nil {
		return fail(err)
	}
	// Keep the webhook configurations as envtest installed them (URL and CA
	// of the local server), and remove them until kestra-guard runs.
	var mwcs admissionregv1.MutatingWebhookConfigurationList
	var vwcs admissionregv1.ValidatingWebhookConfigurationList
	if err := cp.Client.List(ctx, &mwcs); err != nil {
		return fail(err)
	}
	if err := cp.Client.List(ctx, &vwcs); err != nil {
		return fail(err)
	}
	for i := range mwcs.Items {
		h.hooks = append(h.hooks, &mwcs.Items[i])
	}
	for i := range vwcs.Items {
		h.hooks = append(h.hooks, &vwcs.Items[i])
	}
	if err := h.removeWebhooks(ctx); err != nil {
		return fail(err)
	}
	for _, ns := range []string{framework.GuardNamespace, nsChurn} {
		if err := cp.EnsureNamespace(ns, nil); err != nil {
			return fail(err)
		}
	}
	if err := cp.EnsureNamespace(nsAdmission, map[string]string{scope.RunnerLabel: "true"}); err != nil {
		return fail(err)
	}
	user, err := cp.Env.AddUser(envtest.User{Name: "kestra-guard-scale", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fail(err)
	}
	kubeconfig := filepath.Join(o.workDir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return fail(err)
	}
	// The chart hands the container's memory limit over (downward API).
	if h.memLimit, err = chartMemoryLimit(); err != nil {
		return fail(err)
	}
	h.env = append(os.Environ(), "KUBECONFIG="+kubeconfig, server.MemoryLimitEnv+"="+strconv.FormatInt(h.memLimit, 10))
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = framework.FreePort(); err != nil {
			return fail(err)
		}
	}
	cfg.Server.MetricsAddr = "127.0.0.1:" + strconv.Itoa(ports[0])
	cfg.Server.HealthAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	cfg.Server.PprofAddr = "127.0.0.1:" + strconv.Itoa(ports[2])
	cfg.Audit.Interval = metav1.Duration{Duration: o.interval}
	h.cfg = cfg
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fail(err)
	}
	h.cfgFile = filepath.Join(o.workDir, "config.yaml")
	if err := os.WriteFile(h.cfgFile, b, 0o600); err != nil {
		return fail(err)
	}
	v, err := cp.Clientset.Discovery().ServerVersion()
	if err != nil {
		return fail(err)
	}
	h.versions = "kube-apiserver " + v.GitVersion + " (built from source)"
	return h, nil
}

func (h *harness) stop() { _ = h.stopCP() }

func (h *harness) removeWebhooks(ctx context.Context) error {
	for _, o := range h.hooks {
		if err := client.IgnoreNotFound(h.cp.Client.Delete(ctx, o.DeepCopyObject().(client.Object))); err != nil {
			return fmt.Errorf("removing webhook configuration %s: %w", o.GetName(), err)
		}
	}
	return nil
}

func (h *harness) installWebhooks(ctx context.Context) error {
	for _, o := range h.hooks {
		c := o.DeepCopyObject().(client.Object)
		c.SetResourceVersion("")
		c.SetUID("")
		c.SetManagedFields(nil)
		c.SetCreationTimestamp(metav1.Time{})
		if err := h.cp.Client.Create(ctx, c); err != nil {
			return fmt.Errorf("installing webhook configuration %s: %w", o.GetName(), err)
		}
	}
	return nil
}

// sizeResult is what one size measured.
type sizeResult struct {
	size      size
	build     time.Duration
	namespace int // namespaces in the cluster, kube-system and the run's own included

	startToReady       time.Duration
	startRequests      requests // from start to ready
	rssReady, hwmReady float64
	heapReady          float64
	// liveReady and livePass are the live heap (heapProfile) when ready
	// and during the quiet pass.
	liveReady, livePass float64
	livePassLate        bool     // the profile came after the quiet pass ended
	first               pass     // the first audit pass (it starts as the caches sync)
	quiet               pass     // a pass with nothing else going on
	quietRequests       requests // during the quiet pass
	quietRSS, quietHeap float64  // highest during the quiet pass
	quietHWM            float64  // VmHWM, reset as the quiet pass started
	idle, during        latencies
	idleOverlapped      bool // an audit pass ran during every idle sample
	churnOnly           latencies
	churnOverlapped     bool      // an audit pass started during the churn-only sample
	busy                pass      // the pass admission and churn ran against
	alonePass           pass      // the pass admission alone ran against
	alone               latencies // admission during alonePass
	churn               latencies // churn creates and deletes
	churnInPass         int       // churn operations that ended while the pass ran
}

func (h *harness) measure(ctx context.Context, bin string, prev, s size, first bool) (*sizeResult, error) {
	res := &sizeResult{size: s}
	if err := h.removeWebhooks(ctx); err != nil {
		return nil, err
	}
	t := time.Now()
	b := &builder{c: h.fast, conc: h.o.conc}
	if err := b.grow(ctx, prev, s, func(m string) { step("  %s", m) }); err != nil {
		return nil, err
	}
	res.build = time.Since(t)
	if err := h.installWebhooks(ctx); err != nil {
		return nil, err
	}
	var nss corev1.NamespaceList
	if err := h.cp.Client.List(ctx, &nss); err != nil {
		return nil, err
	}
	res.namespace = len(nss.Items)
	wantWrites := s.RunnerNS - prev.RunnerNS
	if first {
		wantWrites++ // nsAdmission
	}

	before, err := apiserverRequests(ctx, h.cp.Clientset)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	g, err := startGuard(bin, []string{"serve", "--config", h.cfgFile}, h.env, filepath.Join(h.o.workDir, fmt.Sprintf("kestra-guard-%d.log", s.Pods())))
	if err != nil {
		return nil, err
	}
	defer g.stop()
	g.metrics = "http://" + h.cfg.Server.MetricsAddr + "/metrics"
	g.readyz = "http://" + h.cfg.Server.HealthAddr + "/readyz"
	g.pprof = "http://" + h.cfg.Server.PprofAddr
	step("  kestra-guard started; waiting until ready (caches synced, %d managed policies written)", wantWrites)
	if err := waitReady(ctx, g, res.namespace, wantWrites); err != nil {
		return nil, err
	}
	res.startToReady = time.Since(start)
	after, err := apiserverRequests(ctx, h.cp.Clientset)
	if err != nil {
		return nil, err
	}
	res.startRequests = after.minus(before)
	res.rssReady, res.hwmReady = g.memory()
	if res.heapReady, err = g.heap(ctx); err != nil {
		return nil, err
	}
	if res.liveReady, err = h.heapProfile(ctx, g, fmt.Sprintf("heap-%d-ready.pb.gz", s.Pods())); err != nil {
		return nil, err
	}
	step("  ready in %s: RSS %.1f MiB (peak %.1f), heap in use %.1f MiB, live heap %.1f MiB, %.0f API requests", res.startToReady.Round(time.Millisecond), res.rssReady, res.hwmReady, res.heapReady, res.liveReady, res.startRequests.total())

	// The first pass starts once the caches are in sync.
	if res.first, err = g.waitPass(ctx, 0, true, 30*time.Minute); err != nil {
		return nil, err
	}
	step("  first audit pass: %.1f s, %d Pods, %d PolicyReports written", res.first.seconds, res.first.pods, res.first.reportsWritten)
	if res.first.err != "" {
		return nil, fmt.Errorf("the first audit pass failed: %s", res.first.err)
	}

	// Idle admission: no pass running, nothing else going on (three tries;
	// a pass that overlaps all three is reported).
	for try := 1; ; try++ {
		n := g.passCount()
		if _, err := g.waitPass(ctx, n-1, true, 30*time.Minute); err != nil {
			return nil, err
		}
		res.idle = createRunners(ctx, h.cp.Client, "idle", 0, h.o.admissionConc, forDuration(h.o.sample))
		if err := h.cleanAdmission(ctx); err != nil {
			return nil, err
		}
		if g.passCount() == n {
			break
		}
		if try == 3 {
			res.idleOverlapped = true
			break
		}
		step("  an audit pass ran during the idle sample; measuring again")
	}
	step("  idle admission: p50 %.1f ms, p99 %.1f ms (%d creates, %d errors)", ms(res.idle.pct(50)), ms(res.idle.pct(99)), len(res.idle.lat), res.idle.errors)

	// A quiet pass: its time, requests and memory peak. The API server's
	// counters are read until the pass starts, and the last reading taken
	// before it is the baseline; the peaks are reset before it too.
	if err := g.resetPeak(); err != nil {
		return nil, fmt.Errorf("resetting VmHWM: %w", err)
	}
	sampler := g.samplePeaks(ctx, 200*time.Millisecond)
	n, qBefore, err := requestsUntilPass(ctx, h.cp.Clientset, g, h.o.interval+30*time.Minute)
	if err != nil {
		return nil, err
	}
	livePass := make(chan error, 1)
	var livePassAt time.Time
	go func() {
		// A heap profile during the pass: a quarter of the first pass's
		// time after it starts (the first pass, which also waits for the
		// caches, takes longer than the quiet one: half of it came after
		// the quiet pass at 10,000 Pods).
		time.Sleep(time.Duration(res.first.seconds * float64(time.Second) / 4))
		var err error
		sampler.alone(func() {
			livePassAt = time.Now()
			res.livePass, err = h.heapProfile(ctx, g, fmt.Sprintf("heap-%d-audit.pb.gz", s.Pods()))
		})
		livePass <- err
	}()
	if res.quiet, err = g.waitPass(ctx, n, true, 30*time.Minute); err != nil {
		return nil, err
	}
	if res.quiet.err != "" {
		return nil, fmt.Errorf("the quiet audit pass failed: %s", res.quiet.err)
	}
	sampler.finish()
	if err := <-livePass; err != nil {
		return nil, err
	}
	// The first pass (the profile's clock) may have outlasted this one.
	res.livePassLate = livePassAt.After(res.quiet.done)
	qAfter, err := apiserverRequests(ctx, h.cp.Clientset)
	if err != nil {
		return nil, err
	}
	res.quietRequests = qAfter.minus(qBefore)
	res.quietRSS, res.quietHeap = sampler.rss, sampler.heap
	_, res.quietHWM = g.memory()
	step("  quiet audit pass: %.1f s, %.0f API requests, peak RSS %.1f MiB (VmHWM %.1f), peak heap in use %.1f MiB, live heap during it %.1f MiB", res.quiet.seconds, res.quietRequests.total(), res.quietRSS, res.quietHWM, res.quietHeap, res.livePass)

	// The churn with no pass running, right after the quiet pass, for as
	// long as the idle sample (a pass that starts in it is reported).
	n = g.passCount()
	churnDone := forDuration(h.o.sample)
	var churnWG sync.WaitGroup
	churnWG.Add(1)
	go func() {
		defer churnWG.Done()
		_ = churn(ctx, h.fast, h.o.churn, churnDone)
	}()
	res.churnOnly = createRunners(ctx, h.cp.Client, "churn", 0, h.o.admissionConc, churnDone)
	churnWG.Wait()
	if err := h.cleanAdmission(ctx); err != nil {
		return nil, err
	}
	res.churnOverlapped = g.passCount() != n
	step("  admission during churn alone: p50 %.1f ms, p99 %.1f ms (%d creates, %d errors)", ms(res.churnOnly.pct(50)), ms(res.churnOnly.pct(99)), len(res.churnOnly.lat), res.churnOnly.errors)

	// The next pass, with admission and churn from a few seconds before it
	// is due until it ends (passes start on the ticker's beat: the quiet
	// pass's start plus the interval); admission samples count when they
	// began after the pass started and ended before it finished.
	var all latencies
	if res.busy, all, res.churn, err = h.duringPass(ctx, g, res.quiet.started.Add(h.o.interval), true); err != nil {
		return nil, err
	}
	res.during = all.within(res.busy.started, res.busy.done)
	res.churnInPass = res.churn.endedWithin(res.busy.started, res.busy.done)
	step("  admission during the pass and churn: p50 %.1f ms, p99 %.1f ms (%d creates, %d errors); churn %d operations, %d during the pass",
		ms(res.during.pct(50)), ms(res.during.pct(99)), len(res.during.lat), res.during.errors, len(res.churn.lat), res.churnInPass)

	// The pass after it, with admission and nothing else: the audit's own
	// share.
	var alone latencies
	if res.alonePass, alone, _, err = h.duringPass(ctx, g, res.busy.started.Add(h.o.interval), false); err != nil {
		return nil, err
	}
	res.alone = alone.within(res.alonePass.started, res.alonePass.done)
	step("  admission during the pass alone: p50 %.1f ms, p99 %.1f ms (%d creates, %d errors)", ms(res.alone.pct(50)), ms(res.alone.pct(99)), len(res.alone.lat), res.alone.errors)
	all.errors += alone.errors
	if all.first == nil {
		all.first = alone.first
	}

	if all.errors > 0 || res.idle.errors > 0 {
		return nil, fmt.Errorf("task-runner creates failed: %d idle, %d around the pass; first: %v %v", res.idle.errors, all.errors, res.idle.first, all.first)
	}
	return res, nil
}

// duringPass creates task runners (and, withChurn, churns Pods in another
// namespace) from 3 s before the pass due at due until it ends, and returns
// the pass (with the API requests made around it), every create and the
// churn's operations.
func (h *harness) duringPass(ctx context.Context, g *guardProc, due time.Time, withChurn bool) (pass, latencies, latencies, error) {
	if wait := time.Until(due) - 3*time.Second; wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return pass{}, latencies{}, latencies{}, ctx.Err()
		}
	}
	n := g.passCount()
	if last := n - 1; last >= 0 {
		if _, err := g.waitPass(ctx, last, true, 30*time.Minute); err != nil {
			return pass{}, latencies{}, latencies{}, err
		}
	}
	before, err := apiserverRequests(ctx, h.cp.Clientset)
	if err != nil {
		return pass{}, latencies{}, latencies{}, err
	}
	var p pass
	var passDone atomic.Bool
	var passErr error
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		p, passErr = g.waitPass(ctx, n, true, h.o.interval+30*time.Minute)
		passDone.Store(true)
	}()
	var churned latencies
	var churnWG sync.WaitGroup
	if withChurn {
		churnWG.Add(1)
		go func() {
			defer churnWG.Done()
			churned = churn(ctx, h.fast, h.o.churn, &passDone)
		}()
	}
	prefix := "alone"
	if withChurn {
		prefix = "busy"
	}
	all := createRunners(ctx, h.cp.Client, prefix, 0, h.o.admissionConc, &passDone)
	<-waited
	// The requests up to the pass's end (the churn finishes its round
	// after it: not counted).
	after, afterErr := apiserverRequests(ctx, h.cp.Clientset)
	churnWG.Wait()
	if passErr == nil && p.err != "" {
		passErr = fmt.Errorf("the audit pass failed: %s", p.err)
	}
	if passErr != nil {
		return pass{}, latencies{}, latencies{}, passErr
	}
	if afterErr != nil {
		return pass{}, latencies{}, latencies{}, afterErr
	}
	p.requests = after.minus(before)
	if err := h.cleanAdmission(ctx); err != nil {
		return pass{}, latencies{}, latencies{}, err
	}
	return p, all, churned, nil
}

// heapProfile writes kestra-guard's heap profile into the work folder and
// returns the live heap it records: the bytes a collection run for the
// profile (gc=1) keeps (sampled by the runtime; without the garbage that
// heap in use carries until the next collection). The callers take it when
// the harness is not reading /metrics, whose scrape builds every series of
// the violations gauge (thousands at 100,000 Pods) and would count.
func (h *harness) heapProfile(ctx context.Context, g *guardProc, name string) (liveMiB float64, err error) {
	b, err := benchkit.Get(ctx, g.pprof+"/debug/pprof/heap?gc=1")
	if err != nil {
		return 0, fmt.Errorf("heap profile %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(h.o.workDir, name), b, 0o644); err != nil {
		return 0, err
	}
	return liveHeap(b)
}

// liveHeap sums a heap profile's inuse_space, in MiB.
func liveHeap(b []byte) (float64, error) {
	p, err := profile.ParseData(b)
	if err != nil {
		return 0, fmt.Errorf("reading a heap profile: %w", err)
	}
	idx := slices.IndexFunc(p.SampleType, func(t *profile.ValueType) bool { return t.Type == "inuse_space" })
	if idx < 0 {
		return 0, errors.New("reading a heap profile: no inuse_space samples")
	}
	var sum int64
	for _, smp := range p.Sample {
		sum += smp.Value[idx]
	}
	return float64(sum) / (1 << 20), nil
}

// cleanAdmission deletes the admission samples' Pods. The API server
// deletes a collection of thousands of Pods in one request, which a loaded
// server may cut off (a stream reset at its request timeout): the delete
// is tried again, as often as five times; what it deleted stays deleted.
func (h *harness) cleanAdmission(ctx context.Context) error {
	const tries = 5
	try := 0
	return retry.OnError(wait.Backoff{Steps: tries, Duration: 2 * time.Second, Factor: 1}, func(error) bool { return ctx.Err() == nil }, func() error {
		try++
		err := h.fast.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(nsAdmission), client.GracePeriodSeconds(0))
		if err != nil {
			step("  deleting the admission samples' Pods (try %d of %d): %v", try, tries, err)
		}
		return err
	})
}

// requestsUntilPass reads the API server's request counters every second
// until the next audit pass starts, and returns its number and the last
// reading finished before it started (by the time kestra-guard logged). A
// pass running at the first reading is let finish, and the next one waited
// for.
func requestsUntilPass(ctx context.Context, cs *kubernetes.Clientset, g *guardProc, timeout time.Duration) (int, requests, error) {
	type reading struct {
		done time.Time
		r    requests
	}
	deadline := time.Now().Add(timeout)
	n := g.passCount()
	var readings []reading
	for time.Now().Before(deadline) {
		r, err := apiserverRequests(ctx, cs)
		if err != nil {
			return 0, nil, err
		}
		readings = append(readings, reading{time.Now(), r})
		if p, started := g.pass(n); started {
			for i := len(readings) - 1; i >= 0; i-- {
				if readings[i].done.Before(p.started) {
					return n, readings[i].r, nil
				}
			}
			// Started before the first reading: take the next one.
			if _, err := g.waitPass(ctx, n, true, timeout); err != nil {
				return 0, nil, err
			}
			n, readings = g.passCount(), nil
			continue
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-g.exited:
			return 0, nil, errors.New("kestra-guard exited")
		case <-time.After(time.Second):
		}
	}
	return 0, nil, fmt.Errorf("no audit pass started within %s", timeout)
}

// waitReady polls kestra-guard until /readyz answers, the managed-policy
// controller has reconciled every namespace with nothing left queued, and
// it has written want managed policies.
func waitReady(ctx context.Context, g *guardProc, namespaces, want int) error {
	deadline := time.Now().Add(30 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-g.exited:
			return errors.New("kestra-guard exited before it was ready (see its log in the work folder)")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if _, err := benchkit.Get(ctx, g.readyz); err != nil {
			last = "readyz: " + err.Error()
			continue
		}
		b, err := benchkit.Get(ctx, g.metrics)
		if err != nil {
			last = err.Error()
			continue
		}
		m, err := benchkit.Parse(g.metrics, b)
		if err != nil {
			last = err.Error()
			continue
		}
		reconciled := m.Sum("controller_runtime_reconcile_total", map[string]string{"controller": "managed-networkpolicy"})
		depth := m.Sum("workqueue_depth", map[string]string{"name": "managed-networkpolicy"})
		written := m.Sum("kestra_guard_managed_networkpolicy_writes_total", map[string]string{"reason": "created"})
		if reconciled >= float64(namespaces) && depth == 0 && written >= float64(want) {
			return nil
		}
		last = fmt.Sprintf("reconciled %.0f of %d namespaces, %.0f queued, %.0f of %d managed policies written", reconciled, namespaces, depth, written, want)
	}
	return fmt.Errorf("kestra-guard not ready within 30 min: %s", last)
}

// createRunners creates task-runner Pods in nsAdmission with conc clients:
// n of them, or, when until is set, until it is true.
func createRunners(ctx context.Context, c client.Client, prefix string, n, conc int, until *atomic.Bool) latencies {
	var mu sync.Mutex
	var out latencies
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1)
				if until == nil && i > int64(n) || until != nil && until.Load() {
					return
				}
				p := framework.PassingTaskRunner(nsAdmission, fmt.Sprintf("%s-%d", prefix, i))
				t := time.Now()
				err := c.Create(ctx, p)
				d := time.Since(t)
				mu.Lock()
				out.lat, out.at = append(out.lat, d), append(out.at, t)
				if err != nil {
					if out.errors == 0 {
						out.first = err
					}
					out.errors++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// churn creates n ordinary Pods in nsChurn and deletes them, 8 at a time,
// and again until until is true (without until, once).
func churn(ctx context.Context, c client.Client, n int, until *atomic.Bool) latencies {
	var mu sync.Mutex
	var out latencies
	b := &builder{c: c, conc: 8}
	op := func(do func() error) {
		t := time.Now()
		err := do()
		d := time.Since(t)
		mu.Lock()
		defer mu.Unlock()
		out.lat, out.at = append(out.lat, d), append(out.at, t)
		if err != nil {
			out.errors++
		}
	}
	for ctx.Err() == nil {
		pods := make([]*corev1.Pod, n)
		// Once until is true no more Pods are created; those created are
		// deleted.
		_ = b.parallel(ctx, 0, n, func(ctx context.Context, i int) error {
			if until != nil && until.Load() {
				return nil
			}
			pods[i] = ordinaryPod(nsChurn, i)
			op(func() error { return c.Create(ctx, pods[i]) })
			return nil
		})
		_ = b.parallel(ctx, 0, n, func(ctx context.Context, i int) error {
			if pods[i] == nil {
				return nil
			}
			op(func() error { return client.IgnoreNotFound(c.Delete(ctx, pods[i], client.GracePeriodSeconds(0))) })
			return nil
		})
		if until == nil || until.Load() {
			break
		}
	}
	return out
}

// chartMemoryLimit is the chart's resources.limits.memory, in bytes.
func chartMemoryLimit() (int64, error) {
	path := filepath.Join(framework.RepoRoot(), "charts", "kestra-guard", "values.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var v struct {
		Resources struct {
			Limits struct {
				Memory string `json:"memory"`
			} `json:"limits"`
		} `json:"resources"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	q, err := resource.ParseQuantity(v.Resources.Limits.Memory)
	if err != nil || q.Value() <= 0 {
		return 0, fmt.Errorf("%s: resources.limits.memory %q: expected a memory quantity (%v)", path, v.Resources.Limits.Memory, err)
	}
	return q.Value(), nil
}

// forDuration is a flag that turns true after d.
func forDuration(d time.Duration) *atomic.Bool {
	var done atomic.Bool
	time.AfterFunc(d, func() { done.Store(true) })
	return &done
}
