package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/hack/internal/benchkit"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

type report struct {
	started    time.Time
	rounds     int
	versions   string
	cpuProfile string
	// apiserverProfile, when set, is where the kube-apiserver CPU profile
	// under section 3's configuration profileConfig goes (nothing else runs).
	apiserverProfile, profileConfig string
	// e2eOnly runs section 3 alone (-e2e-only).
	e2eOnly bool

	rules map[string]*ruleResult // benchmark name -> results
	order []string

	https map[string]*loadResult // config -> results
	e2e   map[string]*loadResult
	// apiserver: configuration -> one map per round (batch) of webhook or
	// policy -> the API server's mean ms per call.
	apiserver map[string][]map[string]float64
	// server: configuration -> one map per round of webhook path -> the
	// webhook server's own mean ms per request.
	server map[string][]map[string]float64

	rssIdle, rssLoad, rssTenth, rssAfter float64
	reviews                              int
	reviewErrors                         int
	patchOps                             int  // operations in the patch for the Kestra default Pod
	passingPatchOps                      int  // operations in the patch for the passing task runner
	pinned                               bool // section 2 ran with servers and clients on separate CPUs
	validateBytes, mutateBytes           int  // sizes of the captured reviews posted
}

type ruleResult struct{ ns, allocs []float64 }

type loadResult struct {
	satRate, satP50, satP99, satP999 []float64
	fixedRounds                      [][]time.Duration // each round's requests at the fixed rate
	errors                           int
}

const (
	httpConc     = 16
	httpDuration = 3 * time.Second
	fixedRPS     = 400
	e2eBatch     = 400
	e2eConc      = 8
)

// ruleBench runs BenchmarkEvaluate interleaved: the test binary is built
// once, and each round runs every sub-benchmark once (-count 1), the order
// rotated between rounds.
func (r *report) ruleBench() error {
	bin := filepath.Join(os.TempDir(), "kestra-guard-policy.test")
	build := exec.Command("go", "test", "-c", "-o", bin, "./internal/policy/")
	build.Dir, build.Stderr = framework.RepoRoot(), os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the policy test binary: %w", err)
	}
	defer func() { _ = os.Remove(bin) }()
	pkgDir := filepath.Join(framework.RepoRoot(), "internal", "policy")
	lister := exec.Command(bin, "-test.run", "^$", "-test.bench", "BenchmarkEvaluate", "-test.benchtime", "1x")
	lister.Dir = pkgDir
	list, err := lister.Output()
	if err != nil {
		return fmt.Errorf("listing the benchmarks: %w", err)
	}
	var names []string
	for _, l := range strings.Split(string(list), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "BenchmarkEvaluate/") {
			name := strings.TrimPrefix(f[0], "BenchmarkEvaluate/")
			if i := strings.LastIndexByte(name, '-'); i > 0 {
				name = name[:i]
			}
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return fmt.Errorf("no benchmark in:\n%s", list)
	}
	r.rules, r.order = map[string]*ruleResult{}, names
	for round := range r.rounds {
		for i := range names {
			name := names[(i+round)%len(names)]
			cmd := exec.Command(bin, "-test.run", "^$", "-test.bench", "^BenchmarkEvaluate$/^"+regexp.QuoteMeta(name)+"$", "-test.benchmem", "-test.count", "1")
			cmd.Dir, cmd.Stderr = pkgDir, os.Stderr
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("benchmark %s: %w", name, err)
			}
			found := false
			for _, l := range strings.Split(string(out), "\n") {
				f := strings.Fields(l)
				if len(f) < 8 || !strings.HasPrefix(f[0], "BenchmarkEvaluate/") {
					continue
				}
				ns, _ := strconv.ParseFloat(f[2], 64)
				allocs, _ := strconv.ParseFloat(f[6], 64)
				if r.rules[name] == nil {
					r.rules[name] = &ruleResult{}
				}
				r.rules[name].ns = append(r.rules[name].ns, ns)
				r.rules[name].allocs = append(r.rules[name].allocs, allocs)
				found = true
			}
			if !found {
				return fmt.Errorf("benchmark %s: no result in:\n%s", name, out)
			}
		}
	}
	return nil
}

func (r *report) httpsBench(ctx context.Context, e *env) error {
	validate, mutate, err := capturedBodies()
	if err != nil {
		return err
	}
	configs := []struct {
		name, url string
		body      []byte
	}{
		{"kestra-guard validate", e.guardURL + "/validate-pods", validate},
		{"always-allow validate", e.allowURL + "/validate", validate},
		{"kestra-guard mutate", e.guardURL + "/mutate-pods", mutate},
		{"always-allow mutate", e.allowURL + "/mutate", mutate},
		{"decode-only validate", e.allowURL + "/decode", validate},
		{"decode-only validate (json/v2)", e.allowURL + "/decode-v2", validate},
	}
	r.validateBytes, r.mutateBytes = len(validate), len(mutate)
	r.https = map[string]*loadResult{}
	var peak atomic.Uint64
	for round := range r.rounds {
		for i := range configs {
			c := configs[(i+round)%len(configs)] // rotate the order between rounds
			do := func() error { _, err := postReview(e.httpClient, c.url, c.body); return err }
			if r.patchOps == 0 && c.name == "kestra-guard mutate" {
				resp, err := postReview(e.httpClient, c.url, c.body)
				if err != nil {
					return fmt.Errorf("mutating the Kestra default Pod: %w", err)
				}
				if r.patchOps, err = patchOps(resp.Patch); err != nil {
					return err
				}
			}
			res := r.https[c.name]
			if res == nil {
				res = &loadResult{}
				r.https[c.name] = res
			}
			// Saturation runs pinned; the fixed rate, which leaves the
			// CPUs mostly idle, runs on every CPU.
			unpin, pinned, err := e.pinServers()
			if err != nil {
				return err
			}
			r.pinned = pinned
			stop := sampleRSS(e.guard, &peak)
			s := saturate(ctx, httpConc, httpDuration, do)
			stop()
			unpin()
			res.satRate = append(res.satRate, s.rate())
			res.satP50, res.satP99, res.satP999 = append(res.satP50, ms(s.pct(50))), append(res.satP99, ms(s.pct(99))), append(res.satP999, ms(s.pct(99.9)))
			f := fixedRate(ctx, fixedRPS, httpDuration, do)
			res.fixedRounds = append(res.fixedRounds, f.lat)
			res.errors += s.errors + f.errors
		}
	}
	r.rssLoad = float64(peak.Load()) / 1024
	return nil
}

func pinNote(pinned bool) string {
	if !pinned {
		return " The servers and the clients shared the machine's CPU (it has one)."
	}
	return " At saturation, both webhook servers ran pinned to CPU 1 and the bench's clients to CPU 0 (the affinity of every thread), so that the clients took no CPU from the server under test; the fixed-rate runs and section 4 ran on every CPU, but the Go runtimes keep the GOMAXPROCS of 1 they took under the pin (section 3 ran before this section, on fresh processes)."
}

// patchOps counts the operations of a JSON patch.
func patchOps(patch []byte) (int, error) {
	var ops []json.RawMessage
	if err := json.Unmarshal(patch, &ops); err != nil {
		return 0, fmt.Errorf("reading the patch %q: %w", patch, err)
	}
	return len(ops), nil
}

// sampleRSS records the process's peak RSS (KiB) until stop is called.
func sampleRSS(p *proc, peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if kb := uint64(p.rss() * 1024); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// e2eConfig is one namespace of the end-to-end run and the Pod created in
// it; hooks names, by suffix, the webhooks or policy the API server times.
type e2eConfig struct {
	name, ns, hooks string
	pod             func(ns, name string) *corev1.Pod
	// server is the webhook server's metrics endpoint ("" for none).
	server func(e *env) string
}

const (
	e2eGuardUnchanged = "kestra-guard, Pod left unchanged"
	e2eGuardPatched   = "kestra-guard, Pod patched"
	e2eAllow          = "always-allow webhooks"
	e2eNone           = "no admission policy"
	e2eCEL            = "CEL ValidatingAdmissionPolicy"
	e2eInTree         = "kestra-guard in-tree (admission.mode inTree)"
	e2eBoth           = "kestra-guard webhooks and in-tree (admission.mode both)"
	e2eHome           = "a MutatingAdmissionPolicy that only adds HOME"
)

// Only kestra-guard's namespace gets task runners, so that the other
// configurations are not intercepted by it. The Pod left unchanged already
// has what the mutation adds (HOME); the patched one is the passing task
// runner as hack/capture recorded it, to which kestra-guard adds HOME.
var e2eConfigs = []e2eConfig{
	{e2eNone, nsNone, "", plainPod, nil},
	{e2eGuardUnchanged, nsGuard, "pods.kestra-guard.io", func(ns, name string) *corev1.Pod {
		return framework.WithHome(framework.PassingTaskRunner(ns, name))
	}, guardMetrics},
	{e2eGuardPatched, nsGuard, "pods.kestra-guard.io", framework.PassingTaskRunner, guardMetrics},
	{e2eAllow, nsAllow, "allow.bench", plainPod, func(e *env) string { return e.allowMetrics }},
	{e2eCEL, nsVAP, "bench-cel", plainPod, nil},
	// The passing task runner with a label the webhooks' object selector
	// excludes (env.go), judged by the in-tree policies, which select the
	// namespace; their mutation adds HOME as kestra-guard's does.
	{e2eInTree, nsInTree, "kestra-guard-deny|kestra-guard-warn|kestra-guard-egress-deny|kestra-guard-mutate", inTreePod, nil},
	{e2eBoth, nsBoth, "pods.kestra-guard.io|kestra-guard-deny|kestra-guard-warn|kestra-guard-egress-deny|kestra-guard-mutate", framework.PassingTaskRunner, guardMetrics},
	// The passing task runner given HOME and nothing else, in-tree: the
	// in-tree mutation's change of this Pod (checkHomeAsInTree) with none
	// of kestra-guard's CEL.
	{e2eHome, nsHome, "bench-home", plainPod, nil},
}

func guardMetrics(e *env) string { return e.guardMetrics }

func plainPod(ns, name string) *corev1.Pod {
	p := framework.PassingTaskRunner(ns, name)
	p.Labels = map[string]string{"app": "bench"}
	return p
}

// e2eBench creates the Pods of each configuration in turn and reads the API
// server's admission metrics around each batch.
func (r *report) e2eBench(ctx context.Context, e *env) error {
	if err := checkUnchanged(ctx, e); err != nil {
		return err
	}
	if err := checkHomeAsInTree(ctx, e); err != nil {
		return err
	}
	body, err := captured("mutate-passing-create", nsGuard)
	if err != nil {
		return err
	}
	resp, err := postReview(e.httpClient, e.guardURL+"/mutate-pods", body)
	if err != nil {
		return fmt.Errorf("mutating the passing task runner: %w", err)
	}
	if r.passingPatchOps, err = patchOps(resp.Patch); err != nil {
		return err
	}
	r.e2e, r.apiserver, r.server = map[string]*loadResult{}, map[string][]map[string]float64{}, map[string][]map[string]float64{}
	for round := range r.rounds {
		for i := range e2eConfigs {
			c := e2eConfigs[(i+round)%len(e2eConfigs)]
			before, err := apiserverMetrics(ctx, e)
			if err != nil {
				return err
			}
			var serverBefore map[string][2]float64
			if c.server != nil {
				if serverBefore, err = serverMetrics(ctx, c.server(e)); err != nil {
					return err
				}
			}
			s := createPods(ctx, e.cp.Client, fmt.Sprintf("r%d-%d", round, i), e2eBatch, e2eConc, func(name string) *corev1.Pod { return c.pod(c.ns, name) })
			after, err := apiserverMetrics(ctx, e)
			if err != nil {
				return err
			}
			res := r.e2e[c.name]
			if res == nil {
				res = &loadResult{}
				r.e2e[c.name] = res
			}
			if c.server != nil {
				serverAfter, err := serverMetrics(ctx, c.server(e))
				if err != nil {
					return err
				}
				r.server[c.name] = append(r.server[c.name], meanPerCall(serverBefore, serverAfter, ""))
			}
			res.satRate = append(res.satRate, s.rate())
			res.satP50, res.satP99 = append(res.satP50, ms(s.pct(50))), append(res.satP99, ms(s.pct(99)))
			res.errors += s.errors
			if c.hooks != "" {
				r.apiserver[c.name] = append(r.apiserver[c.name], meanPerCall(before, after, c.hooks))
			}
		}
	}
	return nil
}

// checkUnchanged makes sure the Pod of e2eGuardUnchanged is one kestra-guard
// admits without a change, so that the configuration means what it says: a
// dry-run create in kestra-guard's namespace gives the same spec and
// annotations as in the namespace without admission policy (where the Pod
// carries no task-runner label, which kestra-guard would intercept
// anywhere), and keeps its labels.
// checkHomeAsInTree makes sure the MutatingAdmissionPolicy of e2eHome
// changes the passing task runner as the in-tree policies do (the same
// stored spec), so that it is that mutation alone: a dry-run create in
// each namespace.
func checkHomeAsInTree(ctx context.Context, e *env) error {
	it, home := inTreePod(nsInTree, "home"), plainPod(nsHome, "home")
	for _, p := range []*corev1.Pod{it, home} {
		if err := e.cp.Client.Create(ctx, p, client.DryRunAll); err != nil {
			return fmt.Errorf("creating the passing task runner in %s (dry run): %w", p.Namespace, err)
		}
	}
	if !equality.Semantic.DeepEqual(it.Spec, home.Spec) {
		return fmt.Errorf("the in-tree policies and the policy that only adds HOME store different Pods:\n%+v\nagainst\n%+v", it.Spec, home.Spec)
	}
	return nil
}

func checkUnchanged(ctx context.Context, e *env) error {
	g := framework.WithHome(framework.PassingTaskRunner(nsGuard, "unchanged"))
	labels := maps.Clone(g.Labels)
	n := framework.WithHome(plainPod(nsNone, "unchanged"))
	for _, p := range []*corev1.Pod{g, n} {
		if err := e.cp.Client.Create(ctx, p, client.DryRunAll); err != nil {
			return fmt.Errorf("creating the Pod left unchanged in %s (dry run): %w", p.Namespace, err)
		}
	}
	if !equality.Semantic.DeepEqual(g.Spec, n.Spec) || !maps.Equal(g.Labels, labels) || !maps.Equal(g.Annotations, n.Annotations) {
		return fmt.Errorf("kestra-guard changed the Pod meant to be left unchanged:\n%+v\nwithout kestra-guard:\n%+v", g, n)
	}
	return nil
}

func (r *report) memoryBench(ctx context.Context, e *env, n int) error {
	validate, mutate, err := capturedBodies()
	if err != nil {
		return err
	}
	bodies := [][]byte{validate, mutate}
	urls := []string{e.guardURL + "/validate-pods", e.guardURL + "/mutate-pods"}
	var next atomic.Int64
	var tenth sync.Once
	s := saturateN(ctx, httpConc, n, func() error {
		i := next.Add(1)
		if i == int64(n/10) {
			tenth.Do(func() { r.rssTenth = e.guard.rss() })
		}
		_, err := postReview(e.httpClient, urls[i%2], bodies[i%2])
		return err
	})
	time.Sleep(2 * time.Second)
	r.reviews, r.reviewErrors, r.rssAfter = s.n, s.errors, e.guard.rss()
	return nil
}

func (r *report) ratio(a, b string) float64 {
	return summarize(r.https[a].satRate).med / summarize(r.https[b].satRate).med
}

// addedLatency is a configuration's median p50 create latency over none.
func (r *report) addedLatency(name string) float64 {
	return summarize(r.e2e[name].satP50).med - summarize(r.e2e[e2eNone].satP50).med
}

// apiMs is the API server's time per Pod in a configuration's webhooks or
// policy, one value per round: the sum of each webhook's mean per call.
func (r *report) apiMs(name string) []float64 { return perPod(r.apiserver[name]) }

// serverMs is the webhook server's own time per Pod, one value per round.
func (r *report) serverMs(name string) []float64 { return perPod(r.server[name]) }

// perPod adds up, round by round, the mean per call of each webhook; a
// round in which no webhook was called counts as nothing.
func perPod(rounds []map[string]float64) []float64 {
	var per []float64
	for _, hooks := range rounds {
		if sum, ok := roundSum(hooks); ok {
			per = append(per, sum)
		}
	}
	return per
}

// roundSum is one round's time per Pod, false when no webhook was called.
func roundSum(hooks map[string]float64) (float64, bool) {
	sum := 0.0
	for _, v := range hooks {
		sum += v
	}
	return sum, len(hooks) > 0
}

// meanPerCall is the mean ms per call of every name ending in one of the
// "|"-separated suffixes that was called between two readings of sums.
func meanPerCall(before, after map[string][2]float64, suffixes string) map[string]float64 {
	out := map[string]float64{}
	for name, a := range after {
		match := slices.ContainsFunc(strings.Split(suffixes, "|"), func(s string) bool { return strings.HasSuffix(name, s) })
		if b := before[name]; match && a[1] > b[1] {
			out[name] = (a[0] - b[0]) / (a[1] - b[1]) * 1000
		}
	}
	return out
}

// hookMedians is each webhook's median over the rounds it was called in.
func hookMedians(rounds []map[string]float64) map[string]float64 {
	vals := map[string][]float64{}
	for _, hooks := range rounds {
		for name, v := range hooks {
			vals[name] = append(vals[name], v)
		}
	}
	out := map[string]float64{}
	for name, vs := range vals {
		out[name] = summarize(vs).med
	}
	return out
}

// apiRatio is the median over rounds of a's apiMs over b's in the same
// round: batches of one round run back to back, so the ratio of a round is
// less exposed to the machine's drift than the ratio of two medians.
func (r *report) apiRatio(a, b string) float64 { return summarize(r.apiRatios(a, b)).med }

// apiRatios are the per-round ratios of a's apiMs over b's.
func (r *report) apiRatios(a, b string) []float64 {
	ra, rb := r.apiserver[a], r.apiserver[b]
	var ratios []float64
	for i := range min(len(ra), len(rb)) {
		sa, okA := roundSum(ra[i])
		sb, okB := roundSum(rb[i])
		if okA && okB {
			ratios = append(ratios, sa/sb)
		}
	}
	return ratios
}

// pooled is every request of rounds, as one sample.
func pooled(rounds [][]time.Duration) sample {
	var s sample
	for _, l := range rounds {
		s.lat = append(s.lat, l...)
	}
	return s
}

// p99Interval is the 95% bootstrap interval of a's p99 minus b's at the
// fixed rate (ms): 500 resamples that each draw as many rounds as were run,
// whole and with replacement, for each configuration (the requests of one
// round are not independent), with a fixed seed so that a report can be
// recomputed.
func (r *report) p99Interval(a, b string) (lo, hi float64) {
	rng := rand.New(rand.NewPCG(17, 29))
	resample := func(rounds [][]time.Duration) float64 {
		drawn := make([][]time.Duration, len(rounds))
		for i := range drawn {
			drawn[i] = rounds[rng.IntN(len(rounds))]
		}
		return ms(pooled(drawn).pct(99))
	}
	ra, rb := r.https[a].fixedRounds, r.https[b].fixedRounds
	if len(ra) == 0 || len(rb) == 0 {
		return 0, 0
	}
	diffs := make([]float64, 500)
	for i := range diffs {
		diffs[i] = resample(ra) - resample(rb)
	}
	slices.Sort(diffs)
	return diffs[len(diffs)*25/1000], diffs[len(diffs)*975/1000-1]
}

// fixP99 is a configuration's p99 at the fixed offered rate, over the
// requests of all rounds: at 400/s for 3 s, the p99 of one round is its
// 12th slowest request, too few to compare two webhooks.
func (r *report) fixP99(name string) float64 { return ms(pooled(r.https[name].fixedRounds).pct(99)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func (r *report) summary() string {
	var b strings.Builder
	p, psa := r.rules["passing/kestra-guard"], r.rules["passing/pod-security-admission"]
	fmt.Fprintf(&b, "rule evaluation, passing Pod: kestra-guard %s ns/op %s allocs, PSA %s ns/op %s allocs\n",
		num(summarize(p.ns).med), num(summarize(p.allocs).med), num(summarize(psa.ns).med), num(summarize(psa.allocs).med))
	vr, mr := r.ratio("kestra-guard validate", "always-allow validate"), r.ratio("kestra-guard mutate", "always-allow mutate")
	fmt.Fprintf(&b, "HTTPS throughput vs always-allow: validate %.2fx (target >= 1.3x: %s), mutate %.2fx (target >= 1.0x: %s); validate vs decode-only (json/v2) %.2fx\n",
		vr, verdict(vr >= 1.3), mr, verdict(mr >= 1.0), r.ratio("kestra-guard validate", "decode-only validate (json/v2)"))
	for _, k := range []string{"validate", "mutate"} {
		g, a := r.fixP99("kestra-guard "+k), r.fixP99("always-allow "+k)
		fmt.Fprintf(&b, "HTTPS p99 at %d/s, %s: kestra-guard %s ms, always-allow %s ms (target no worse: %s)\n", fixedRPS, k, num(g), num(a), verdict(g <= a))
	}
	for _, name := range []string{e2eGuardUnchanged, e2eGuardPatched} {
		g, a := r.addedLatency(name), r.addedLatency(e2eAllow)
		ar := r.apiRatio(name, e2eAllow)
		fmt.Fprintf(&b, "end to end, %s: added p50 over no policy %.2f ms, always-allow %.2f ms (ratio %.2f, target <= 1.1: %s); API server's webhook time per Pod %s ms, always-allow %s ms (ratio %.2f, target <= 1.0: %s); server's own time per Pod %s ms, always-allow %s ms\n",
			name, g, a, g/a, verdict(g/a <= 1.1), num(summarize(r.apiMs(name)).med), num(summarize(r.apiMs(e2eAllow)).med), ar, verdict(ar <= 1.0),
			num(summarize(r.serverMs(name)).med), num(summarize(r.serverMs(e2eAllow)).med))
	}
	fmt.Fprintf(&b, "RSS: idle %.1f MiB, under load %.1f MiB, after %d/10 reviews %.1f MiB, after %d %.1f MiB (%d errors)\n",
		r.rssIdle, r.rssLoad, r.reviews, r.rssTenth, r.reviews, r.rssAfter, r.reviewErrors)
	return b.String()
}

// e2eTable is section 3's table of configurations.
func (r *report) e2eTable() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("| configuration | Pod creations/s | p50 (ms) | p99 (ms) | API server's webhook or policy time per Pod (ms) | webhook server's own time per Pod (ms) | errors |")
	w("|---|---|---|---|---|---|---|")
	cell := func(v []float64) string {
		if len(v) == 0 {
			return "-"
		}
		return summarize(v).String()
	}
	for _, c := range e2eConfigs {
		res := r.e2e[c.name]
		w("| %s | %s | %s | %s | %s | %s | %d |", c.name, summarize(res.satRate), summarize(res.satP50), summarize(res.satP99),
			cell(r.apiMs(c.name)), cell(r.serverMs(c.name)), res.errors)
	}
	return b.String()
}

// inTreeVerdict is issue 25's targets for the in-tree policies, from the
// median creation rates of section 3.
func (r *report) inTreeVerdict() string {
	rate := func(name string) float64 { return summarize(r.e2e[name].satRate).med }
	it, wh, none := rate(e2eInTree), rate(e2eGuardPatched), rate(e2eNone)
	home := rate(e2eHome)
	return fmt.Sprintf("In-tree (the same passing task runner, which the in-tree mutation gives HOME as kestra-guard's patch does): %.0f Pod creations/s against %.0f through kestra-guard's webhooks (%s, %.2fx; target at least 1.4x: **%s**) and %.0f with no policy (%.2fx; target at least 0.85x: **%s**). Both (webhooks and in-tree): %.0f/s. "+
		"A MutatingAdmissionPolicy that only adds HOME to the same Pod (the same stored spec), with no validation: %.0f/s, %.2fx the webhooks and %.2fx no policy; the in-tree policies run at %.2fx of it.",
		it, wh, e2eGuardPatched, it/wh, verdict(it/wh >= 1.4), none, it/none, verdict(it/none >= 0.85), rate(e2eBoth),
		home, home/wh, home/none, it/home)
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Benchmarks")
	w("")
	w("Written by `make bench` (`go run ./hack/bench`) on %s; the run took %s.", r.started.UTC().Format("2006-01-02 15:04 MST"), time.Since(r.started).Round(time.Second))
	w("")
	w("- Machine: %s.", hostInfo())
	w("- Versions: %s.", r.versions)
	w("- Method: every configuration is measured %d times in one run, interleaved (the order rotates each round), so that drift of this noisy 2-core machine hits all alike. Cells show the median and, in brackets, min-max across rounds. kestra-guard and the always-allow webhook run as separate processes behind the same server stack (controller-runtime's webhook server, TLS 1.2+, HTTP/1.1), with the same certificates; the clients run in the bench process on the same machine, so absolute numbers include their cost. The sections run in the order 1, 3, 2, 4.", r.rounds)
	w("- Reproduce: `make bench` (needs nothing but Go; the first run builds the control plane).")
	w("")
	w("## 1. Rule evaluation")
	w("")
	w("BenchmarkEvaluate in `./internal/policy`, interleaved: the test binary is built once, and each of %d rounds runs every sub-benchmark once (`-test.count 1`, `-test.benchmem`), the order rotated between rounds. It measures the whole engine (all rules, with the managed NetworkPolicy as the namespace's policies, as the webhook reads it from the API server: with a UID and a resourceVersion, so that its analysis is cached per version) against Pod Security Admission's evaluator at restricted/latest, on a typical passing Kestra task runner (one init container, two containers) and on the Pod Kestra creates by default.", r.rounds)
	w("")
	w("| Pod / evaluator | ns/op | allocs/op |")
	w("|---|---|---|")
	for _, name := range r.order {
		res := r.rules[name]
		w("| %s | %s | %s |", name, summarize(res.ns), num(summarize(res.allocs).med))
	}
	p, psa := r.rules["passing/kestra-guard"], r.rules["passing/pod-security-admission"]
	w("")
	d, dpsa := r.rules["kestra-default/kestra-guard"], r.rules["kestra-default/pod-security-admission"]
	passRatio, passAllocs := summarize(p.ns).med/summarize(psa.ns).med, summarize(p.allocs).med
	w("Targets on the passing Pod: at most 1.0x PSA's time — measured %.2fx: **%s**; 0 allocations — measured %s: **%s**.",
		passRatio, verdict(passRatio <= 1), num(passAllocs), verdict(passAllocs == 0))
	w("")
	w("On the Pod Kestra creates by default (which fails several rules, so messages are built), kestra-guard takes %.2fx PSA's time and makes %s allocations to PSA's %s. kestra-guard-no-egress leaves out the NetworkPolicy analysis, which PSA does not do; kestra-guard-uncached passes the policy as a manifest (no UID, as `check` reads it), so that it is analysed on every call: on the passing Pod it takes %.2fx PSA's time.",
		summarize(d.ns).med/summarize(dpsa.ns).med, num(summarize(d.allocs).med), num(summarize(dpsa.allocs).med),
		summarize(r.rules["passing/kestra-guard-uncached"].ns).med/summarize(psa.ns).med)
	w("")
	w("## 2. The webhook's HTTPS path")
	w("")
	w("AdmissionReviews posted over TLS to `kestra-guard serve` and to the always-allow webhook: saturation with %d closed-loop clients for %s, then a fixed offered rate of %d reviews/s for %s. The bodies are reviews kube-apiserver sent (captured by `go run ./hack/capture` with the default admission plugins, ServiceAccount on; `internal/webhook/testdata/reviews`): validate gets the passing task runner (%d bytes), mutate the Kestra default Pod (%d bytes; kestra-guard answers with a %d-operation patch). Every answer is decoded: an error is a failed request, an HTTP status other than 200, a result code other than 200 or a review not admitted.%s", httpConc, httpDuration, fixedRPS, httpDuration, r.validateBytes, r.mutateBytes, r.patchOps, pinNote(r.pinned))
	w("")
	w("| configuration | throughput at saturation (reviews/s) | p50 / p99 / p99.9 at saturation (ms, median of rounds) | p50 / p99 / p99.9 at %d/s (ms, requests of all rounds) | errors |", fixedRPS)
	w("|---|---|---|---|---|")
	for _, name := range []string{"kestra-guard validate", "always-allow validate", "decode-only validate", "decode-only validate (json/v2)", "kestra-guard mutate", "always-allow mutate"} {
		res := r.https[name]
		w("| %s | %s | %s / %s / %s | %s / %s / %s | %d |", name, summarize(res.satRate),
			num(summarize(res.satP50).med), num(summarize(res.satP99).med), num(summarize(res.satP999).med),
			num(ms(pooled(res.fixedRounds).pct(50))), num(ms(pooled(res.fixedRounds).pct(99))), num(ms(pooled(res.fixedRounds).pct(99.9))), res.errors)
	}
	w("")
	vr, mr := r.ratio("kestra-guard validate", "always-allow validate"), r.ratio("kestra-guard mutate", "always-allow mutate")
	w("Targets, throughput against the always-allow webhook (controller-runtime's `admission.Webhook`): validate at least 1.3x — measured %.2fx: **%s**; mutate at least 1.0x — measured %.2fx: **%s**.",
		vr, verdict(vr >= 1.3), mr, verdict(mr >= 1.0))
	w("")
	for _, k := range []string{"validate", "mutate"} {
		g, a := r.fixP99("kestra-guard "+k), r.fixP99("always-allow "+k)
		lo, hi := r.p99Interval("kestra-guard "+k, "always-allow "+k)
		w("Target, p99 at %d/s no worse than always-allow's, %s: kestra-guard %s ms, always-allow %s ms: **%s**. Difference %+.3f ms; 95%% bootstrap interval (whole rounds resampled) %+.3f to %+.3f ms.", fixedRPS, k, num(g), num(a), verdict(g <= a), g-a, lo, hi)
		w("")
	}
	w("Decode-only references (same stack, decode the Pod and admit): with controller-runtime's `admission.Webhook` and `sigs.k8s.io/json` it reaches %.2fx of the always-allow throughput; with one json/v2 pass (kestra-guard's decode) %.2fx. kestra-guard validate runs at %.2fx of the json/v2 decode-only webhook.",
		r.ratio("decode-only validate", "always-allow validate"), r.ratio("decode-only validate (json/v2)", "always-allow validate"), r.ratio("kestra-guard validate", "decode-only validate (json/v2)"))
	w("")
	w("## 3. End to end through kube-apiserver")
	w("")
	w("Pod creations through the real API server (etcd, no nodes), %d Pods per batch with %d concurrent clients, batches rotated between the configurations, each bound to its own namespace and all installed at once: none; kestra-guard as in production (the chart's mutating and validating webhooks), once with the passing task runner as `hack/capture` recorded it, to which the mutation adds HOME in each container (a %d-operation patch the API server applies), and once with the same Pod with HOME already set, which kestra-guard leaves unchanged (checked before the run); always-allow webhooks of the same shape (one mutating with reinvocation, one validating); a ValidatingAdmissionPolicy in CEL for what CEL can express (non-root, read-only root filesystem, hostPath, host network); kestra-guard's own in-tree policies (`admission.mode inTree`: the generated ValidatingAdmissionPolicies and the MutatingAdmissionPolicy, bound in their namespace by name, with the managed NetworkPolicy as the egress policy's param); `admission.mode both` (the webhooks and the in-tree policies on the same Pods); and a MutatingAdmissionPolicy that adds HOME to each container of the passing task runner and does nothing else, with no validation (the run checks first that it stores the same spec as the in-tree policies): the in-tree mutation's change of this Pod, with none of kestra-guard's CEL.", e2eBatch, e2eConc, r.passingPatchOps)
	w("")
	b.WriteString(r.e2eTable())
	w("")
	w("The webhook server's own time is controller-runtime's `controller_runtime_webhook_latency_seconds` of each server (the same instrumentation wraps kestra-guard's handlers and the always-allow ones), read around each batch and summed over the two webhook paths: from reading the request to writing the answer, what the server adds to the API server's time.")
	w("")
	w("The API server's time is its own metric, read before and after each batch: the mean seconds per call of `apiserver_admission_webhook_admission_duration_seconds` (which includes applying a webhook's patch) summed over the configuration's webhooks, or the `apiserver_validating_admission_policy_check_duration_seconds` and `apiserver_mutating_admission_policy_check_duration_seconds` of the in-tree policies (the API server records a ValidatingAdmissionPolicy's time only when it refuses, warns or fails, never for a Pod it admits, so the in-tree rows hold the mutation's time alone and the CEL row none, \"-\"); steadier than client timings. The ratios below are the median of each round's ratio (the batches of a round run back to back). Per webhook, median over rounds:")
	w("")
	w("| configuration | webhook or policy | mean per call (ms) |")
	w("|---|---|---|")
	for _, c := range e2eConfigs {
		meds := hookMedians(r.apiserver[c.name])
		for _, name := range slices.Sorted(maps.Keys(meds)) {
			w("| %s | %s | %s |", c.name, name, num(meds[name]))
		}
	}
	w("")
	for _, name := range []string{e2eGuardUnchanged, e2eGuardPatched} {
		var rs []string
		for _, x := range r.apiRatios(name, e2eAllow) {
			rs = append(rs, fmt.Sprintf("%.2f", x))
		}
		w("%s against always-allow, the API server's time per Pod round by round: %s.", name, strings.Join(rs, ", "))
		w("")
	}
	for _, name := range []string{e2eGuardUnchanged, e2eGuardPatched} {
		g, a := r.addedLatency(name), r.addedLatency(e2eAllow)
		ar := r.apiRatio(name, e2eAllow)
		w("%s: client view, added p50 latency over no policy %.2f ms against always-allow's %.2f ms; target at most 1.1x, measured %.2fx: **%s**. API server's view, %s ms per Pod against always-allow's %s ms (medians); target at most 1.0x, measured %.2fx: **%s**.",
			name, g, a, g/a, verdict(g/a <= 1.1), num(summarize(r.apiMs(name)).med), num(summarize(r.apiMs(e2eAllow)).med), ar, verdict(ar <= 1.0))
		w("")
	}
	w("%s", r.inTreeVerdict())
	w("")
	w("CEL's added p50 latency over no policy: %.2f ms. The patched Pod costs the API server %s ms per Pod more than the one left unchanged (medians).",
		r.addedLatency(e2eCEL), num(summarize(r.apiMs(e2eGuardPatched)).med-summarize(r.apiMs(e2eGuardUnchanged)).med))
	w("")
	w("## 4. Memory")
	w("")
	w("Resident memory of the `kestra-guard serve` process (VmRSS).")
	w("")
	w("| when | RSS (MiB) |")
	w("|---|---|")
	w("| idle, after start | %.1f |", r.rssIdle)
	w("| peak under the saturation runs above | %.1f |", r.rssLoad)
	w("| after %d of %d reviews | %.1f |", r.reviews/10, r.reviews, r.rssTenth)
	w("| after all %d reviews (%d errors), 2 s idle | %.1f |", r.reviews, r.reviewErrors, r.rssAfter)
	w("")
	// Section 5 is make scale's (hack/scale): kept as it was.
	if section := scaleSection(); section != "" {
		b.WriteString(section)
		w("")
	}
	w("## Hand-written notes (not computed by this run)")
	w("")
	w("The section below is `hack/bench/notes.md`, included verbatim: history and explanations written by hand. Every figure and verdict above is computed by this run; the notes may describe earlier runs.")
	w("")
	notes, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "hack", "bench", "notes.md"))
	if err != nil {
		notes = []byte("(hack/bench/notes.md could not be read: " + err.Error() + ")")
	}
	b.WriteString(strings.TrimSpace(string(notes)) + "\n")
	return b.String()
}

// scaleSection is the part of BENCHMARKS.md that make scale wrote, markers
// included; empty when there is none.
func scaleSection() string {
	b, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "BENCHMARKS.md"))
	if err != nil {
		return ""
	}
	return benchkit.ScaleSection(string(b))
}
