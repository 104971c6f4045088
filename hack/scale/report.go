package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kestra-guard/kestra-guard/hack/internal/benchkit"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/server"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

type report struct {
	started  time.Time
	opts     options
	versions string
	audit    config.BackgroundAudit // kestra-guard's audit settings in the run
	memLimit int64                  // the chart's memory limit handed to kestra-guard, bytes
	results  []*sizeResult
	workDir  string
}

// Targets of issue 26, at the largest size.
const (
	targetRSS       = 150.0 // MiB, after sync and at the audit's peak
	targetGrowth    = 2.0   // memory, smallest size to largest
	targetAudit     = 60.0  // seconds for a pass
	targetP99Factor = 1.2   // admission p99 during audit and churn, over the same churn with no pass
)

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w(benchkit.ScaleBegin)
	w("## 5. At cluster scale")
	w("")
	sizes := make([]string, len(r.results))
	for i, res := range r.results {
		sizes[i] = fmt.Sprint(res.size.Pods())
	}
	w("Written by `make scale` (`go run ./hack/scale -pods %s`) on %s; the run took %s (building the clusters included).",
		strings.Join(sizes, ","), r.started.UTC().Format("2006-01-02 15:04 MST"), time.Since(r.started).Round(time.Second))
	w("")
	w("- Machine: %s; %s.", hostInfo(), r.versions)
	w("- Method: one kube-apiserver and etcd (no node: Pods stay Pending) grow a cluster in place to each size below, built through the API (so each object carries the managedFields the API server stores), with kestra-guard's webhooks removed while building. Then `kestra-guard serve` starts as its own process with the chart's configuration (leader election off, one replica; audit interval %s, pages of %d Pods, at most %d list calls a second; the chart's memory limit, %.0f MiB, in %s as the chart hands it over, so a Go soft limit of 90%% of it; the user is in system:masters), and the run measures: start to ready (`/readyz`, every namespace reconciled by the managed-policy controller with its queue empty, and a managed policy written in every new runner namespace); the API server's `apiserver_request_total` around that and around audit passes; VmRSS and VmHWM from `/proc` and `go_memstats_heap_inuse_bytes` from kestra-guard's `/metrics` (VmRSS sampled every 200 ms, the heap every 2 s), and the live heap (the `inuse_space` of a heap profile taken with a collection of its own, `gc=1`, while the harness does not read `/metrics`: what kestra-guard keeps) when ready and during the quiet pass (a quarter of the first pass's time after it starts); the audit pass's time from its own log; and the client latency of task-runner Pod creates in a runner namespace (%d clients), idle (for %s, between two passes), during an audit pass while %d Pods are created and deleted in another namespace again and again, during the next pass with nothing else, and during the same churn between passes (for %s, right after the quiet pass).",
		r.audit.Interval.Duration, r.audit.PageSize, r.audit.ListsPerSecond, float64(r.memLimit)/(1<<20), server.MemoryLimitEnv, r.opts.admissionConc, r.opts.sample, r.opts.churn, r.opts.sample)
	w("- The run's own namespaces (%s, %s, %s) come on top of the sizes below; kestra-guard's log and heap profiles were left in `%s`.", framework.GuardNamespace, nsAdmission, nsChurn, r.workDir)
	w("")
	w("| | %s | growth |", strings.Join(func() []string {
		var h []string
		for _, res := range r.results {
			h = append(h, fmt.Sprintf("%d Pods", res.size.Pods()))
		}
		return h
	}(), " | "))
	w("|---|%s---|", strings.Repeat("---|", len(r.results)))
	row := func(name string, f func(*sizeResult) float64, format string) {
		var cells []string
		for _, res := range r.results {
			cells = append(cells, fmt.Sprintf(format, f(res)))
		}
		growth := ""
		if len(r.results) > 1 {
			first, last := f(r.results[0]), f(r.results[len(r.results)-1])
			if first > 0 {
				growth = fmt.Sprintf("%.2fx", last/first)
			}
		}
		w("| %s | %s | %s |", name, strings.Join(cells, " | "), growth)
	}
	row("task runners", func(s *sizeResult) float64 { return float64(s.size.Runners()) }, "%.0f")
	row("namespaces", func(s *sizeResult) float64 { return float64(s.size.Namespaces()) }, "%.0f")
	row("runner namespaces", func(s *sizeResult) float64 { return float64(s.size.RunnerNS) }, "%.0f")
	row("NetworkPolicies", func(s *sizeResult) float64 { return float64(s.size.NetworkPolicies()) }, "%.0f")
	row("PolicyExceptions", func(s *sizeResult) float64 { return float64(s.size.Exceptions()) }, "%.0f")
	row("building the cluster (s)", func(s *sizeResult) float64 { return s.build.Seconds() }, "%.0f")
	row("start to ready (s)", func(s *sizeResult) float64 { return s.startToReady.Seconds() }, "%.1f")
	row("API requests, start to ready", func(s *sizeResult) float64 { return s.startRequests.total() }, "%.0f")
	row("RSS when ready (MiB)", func(s *sizeResult) float64 { return s.rssReady }, "%.1f")
	row("VmHWM when ready (MiB)", func(s *sizeResult) float64 { return s.hwmReady }, "%.1f")
	row("Go heap in use when ready (MiB)", func(s *sizeResult) float64 { return s.heapReady }, "%.1f")
	row("Go live heap when ready (MiB)", func(s *sizeResult) float64 { return s.liveReady }, "%.1f")
	row("first audit pass, as the caches sync (s)", func(s *sizeResult) float64 { return s.first.seconds }, "%.1f")
	row("quiet audit pass (s)", func(s *sizeResult) float64 { return s.quiet.seconds }, "%.1f")
	row("task runners judged by a pass", func(s *sizeResult) float64 { return float64(s.quiet.pods) }, "%.0f")
	row("API requests of the quiet pass", func(s *sizeResult) float64 { return s.quietRequests.total() }, "%.0f")
	row("peak RSS during the quiet pass (MiB)", func(s *sizeResult) float64 { return max(s.quietRSS, s.quietHWM) }, "%.1f")
	row("peak Go heap in use during the quiet pass (MiB)", func(s *sizeResult) float64 { return s.quietHeap }, "%.1f")
	row("Go live heap during the quiet pass (MiB)", func(s *sizeResult) float64 { return s.livePass }, "%.1f")
	row("PolicyReports written: first pass", func(s *sizeResult) float64 { return float64(s.first.reportsWritten) }, "%.0f")
	row("PolicyReports written: quiet pass", func(s *sizeResult) float64 { return float64(s.quiet.reportsWritten) }, "%.0f")
	row("PolicyReports written: busy pass", func(s *sizeResult) float64 { return float64(s.busy.reportsWritten) }, "%.0f")
	row("admission p50, quiet cluster (ms)", func(s *sizeResult) float64 { return ms(s.idle.pct(50)) }, "%.1f")
	row("admission p99, quiet cluster (ms)", func(s *sizeResult) float64 { return ms(s.idle.pct(99)) }, "%.1f")
	row("admission creates, quiet cluster", func(s *sizeResult) float64 { return float64(len(s.idle.lat)) }, "%.0f")
	row("busy audit pass (s)", func(s *sizeResult) float64 { return s.busy.seconds }, "%.1f")
	row("admission p50, during audit and churn (ms)", func(s *sizeResult) float64 { return ms(s.during.pct(50)) }, "%.1f")
	row("admission p99, during audit and churn (ms)", func(s *sizeResult) float64 { return ms(s.during.pct(99)) }, "%.1f")
	row("admission creates during the pass", func(s *sizeResult) float64 { return float64(len(s.during.lat)) }, "%.0f")
	row("audit pass with admission alone (s)", func(s *sizeResult) float64 { return s.alonePass.seconds }, "%.1f")
	row("admission p50, during a pass alone (ms)", func(s *sizeResult) float64 { return ms(s.alone.pct(50)) }, "%.1f")
	row("admission p99, during a pass alone (ms)", func(s *sizeResult) float64 { return ms(s.alone.pct(99)) }, "%.1f")
	row("admission creates during a pass alone", func(s *sizeResult) float64 { return float64(len(s.alone.lat)) }, "%.0f")
	row("admission p50, during churn alone (ms)", func(s *sizeResult) float64 { return ms(s.churnOnly.pct(50)) }, "%.1f")
	row("admission p99, during churn alone (ms)", func(s *sizeResult) float64 { return ms(s.churnOnly.pct(99)) }, "%.1f")
	row("admission creates during churn alone", func(s *sizeResult) float64 { return float64(len(s.churnOnly.lat)) }, "%.0f")
	row("churn operations that ended during the pass", func(s *sizeResult) float64 { return float64(s.churnInPass) }, "%.0f")
	w("")
	last := r.results[len(r.results)-1]
	firstRes := r.results[0]
	w("Targets, at %d Pods:", last.size.Pods())
	w("")
	peak := max(last.quietRSS, last.quietHWM)
	w("- RSS at most %.0f MiB after sync: measured %.1f MiB: **%s**; at the audit's peak: measured %.1f MiB: **%s**.",
		targetRSS, last.rssReady, verdict(last.rssReady <= targetRSS), peak, verdict(peak <= targetRSS))
	if len(r.results) > 1 {
		gReady := last.rssReady / firstRes.rssReady
		gPeak := peak / max(firstRes.quietRSS, firstRes.quietHWM)
		w("- Memory growth from %d to %d Pods at most %.0fx, RSS (what the container's memory limit counts): after sync %.2fx, at the audit's peak %.2fx: **%s**.",
			firstRes.size.Pods(), last.size.Pods(), targetGrowth, gReady, gPeak, verdict(max(gReady, gPeak) <= targetGrowth))
		gLive, gLivePass := last.liveReady/firstRes.liveReady, last.livePass/firstRes.livePass
		gHeap, gHeapPeak := last.heapReady/firstRes.heapReady, last.quietHeap/firstRes.quietHeap
		w("- The same for the Go heap: live (what a collection keeps) after sync %.2fx, during the pass %.2fx; in use (with the garbage not yet collected) after sync %.2fx, at its peak during the pass %.2fx: **%s**.",
			gLive, gLivePass, gHeap, gHeapPeak, verdict(max(gLive, gLivePass, gHeap, gHeapPeak) <= targetGrowth))
	}
	for _, res := range r.results {
		if res.livePassLate {
			w("- At %d Pods the heap profile meant for the quiet pass came after the pass had ended: its live heap is not the pass's.", res.size.Pods())
		}
		if res.idleOverlapped {
			w("- At %d Pods an audit pass overlapped each of three idle admission samples: the idle figures there are not idle.", res.size.Pods())
		}
	}
	w("- An audit pass over %d task runners in at most %.0f s: the quiet pass took %.1f s: **%s** (the busy one %.1f s).",
		last.quiet.pods, targetAudit, last.quiet.seconds, verdict(last.quiet.seconds <= targetAudit), last.busy.seconds)
	// The baseline is "the same with kestra-guard idle": the same
	// churn, no audit pass. A pass that started during that sample spoils it.
	ratio := ms(last.during.pct(99)) / ms(last.churnOnly.pct(99))
	p99Verdict := verdict(ratio <= targetP99Factor)
	if last.churnOverlapped {
		p99Verdict = "not measured: an audit pass started during the churn without one"
	}
	w("- Admission p99 during the audit and churn at most %.1fx the same churn with kestra-guard idle (no audit pass): %.1f ms against %.1f ms, %.2fx: **%s** (%d creates during the pass, %d during the churn alone).",
		targetP99Factor, ms(last.during.pct(99)), ms(last.churnOnly.pct(99)), ratio, p99Verdict, len(last.during.lat), len(last.churnOnly.lat))
	w("- Against the quiet cluster (no churn, no pass; %d creates), not the target's baseline: p99 %.1f ms; during the audit and churn %.2fx; the churn alone %.2fx; a pass with nothing else %.1f ms, %.2fx (%d creates).",
		len(last.idle.lat), ms(last.idle.pct(99)), ms(last.during.pct(99))/ms(last.idle.pct(99)), ms(last.churnOnly.pct(99))/ms(last.idle.pct(99)),
		ms(last.alone.pct(99)), ms(last.alone.pct(99))/ms(last.idle.pct(99)), len(last.alone.lat))
	w("")
	for _, res := range r.results {
		w("API requests at %d Pods, by verb and resource (`apiserver_request_total`, differences; the quiet pass and start-up have nothing else running, the busy pass counts the run's own creates and churn too):", res.size.Pods())
		w("")
		w("Long-running requests (the informers' WATCH, which also carries their initial list) are counted when they end, so they are missing here.")
		w("")
		w("| verb resource | start to ready | quiet audit pass | busy audit pass |")
		w("|---|---|---|---|")
		keys := map[string]bool{}
		for _, rq := range []requests{res.startRequests, res.quietRequests, res.busy.requests} {
			for k := range rq {
				keys[k] = true
			}
		}
		all := requests{}
		for k := range keys {
			all[k] = res.startRequests[k] + res.quietRequests[k] + res.busy.requests[k]
		}
		for _, k := range all.sorted() {
			w("| %s | %.0f | %.0f | %.0f |", k, res.startRequests[k], res.quietRequests[k], res.busy.requests[k])
		}
		w("")
	}
	w("### Notes on the scale run (hand-written, not computed by this run)")
	w("")
	notes, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "hack", "scale", "notes.md"))
	if err != nil {
		notes = []byte("(hack/scale/notes.md could not be read: " + err.Error() + ")")
	}
	b.WriteString(strings.TrimSpace(string(notes)) + "\n")
	w(benchkit.ScaleEnd)
	return b.String()
}

func (r *report) summary() string {
	var b strings.Builder
	for _, res := range r.results {
		fmt.Fprintf(&b, "%d Pods: ready in %.1f s, RSS %.1f MiB ready / %.1f MiB audit peak, audit pass %.1f s, admission p99 %.1f ms idle / %.1f ms busy\n",
			res.size.Pods(), res.startToReady.Seconds(), res.rssReady, max(res.quietRSS, res.quietHWM), res.quiet.seconds, ms(res.idle.pct(99)), ms(res.during.pct(99)))
	}
	return b.String()
}

// writeSection puts section between the markers of file, replacing what was
// there; without markers, before the bench's hand-written notes (or at the
// end).
func writeSection(file, section string) error {
	b, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(file, []byte(benchkit.SpliceScaleSection(string(b), section)), 0o644)
}

func hostInfo() string {
	return fmt.Sprintf("%d CPUs (%s), shared with other work", runtime.NumCPU(), benchkit.CPUModel())
}
