package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kestra-guard/kestra-guard/hack/internal/benchkit"
)

// guardProc is `kestra-guard serve` as a process of its own, so that its
// memory is its own. Its JSON log is copied to a file and read for the
// background audit's start and end.
type guardProc struct {
	cmd     *exec.Cmd
	metrics string // http://.../metrics
	readyz  string
	pprof   string

	mu     sync.Mutex
	passes []pass // started and finished audit passes, in order
	wake   chan struct{}
	exited chan struct{}
}

// pass is one background audit pass as its log lines tell it.
type pass struct {
	started, done time.Time
	finished      bool
	// From the "background audit done" line.
	seconds        float64
	pods           int
	reportsWritten int
	err            string
	// API requests from just before the pass to its end, when measured.
	requests requests
}

func startGuard(bin string, args []string, env []string, logPath string) (*guardProc, error) {
	g := &guardProc{wake: make(chan struct{}), exited: make(chan struct{})}
	g.cmd = exec.Command(bin, args...)
	g.cmd.Env = env
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	g.cmd.Stdout, g.cmd.Stderr = pw, pw
	if err := g.cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		_ = g.cmd.Wait()
		_ = pw.Close()
		close(g.exited)
	}()
	go func() {
		defer func() { _ = logFile.Close() }()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = logFile.Write(append(line, '\n'))
			g.observe(line)
		}
	}()
	return g, nil
}

// observe reads one log line for the audit's start and end.
func (g *guardProc) observe(line []byte) {
	var l struct {
		TS      float64 `json:"ts"` // when it was logged: lines reach the pipe up to a second later
		Msg     string  `json:"msg"`
		Seconds float64 `json:"seconds"`
		Pods    int     `json:"pods"`
		Reports int     `json:"policyReportsWritten"`
		Error   string  `json:"error"`
	}
	if json.Unmarshal(line, &l) != nil {
		return
	}
	at := time.Now()
	if l.TS > 0 {
		at = time.Unix(0, int64(l.TS*1e9))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch l.Msg {
	case "background audit started":
		g.passes = append(g.passes, pass{started: at})
	case "background audit done", "background audit failed":
		if n := len(g.passes); n > 0 && !g.passes[n-1].finished {
			p := &g.passes[n-1]
			p.done, p.finished, p.seconds, p.pods, p.reportsWritten, p.err = at, true, l.Seconds, l.Pods, l.Reports, l.Error
		}
	default:
		return
	}
	close(g.wake)
	g.wake = make(chan struct{})
}

// waitPass waits until pass number n (from 0) has started, or has finished
// when finished is set.
func (g *guardProc) waitPass(ctx context.Context, n int, finished bool, timeout time.Duration) (pass, error) {
	deadline := time.After(timeout)
	for {
		g.mu.Lock()
		wake := g.wake
		if len(g.passes) > n && (!finished || g.passes[n].finished) {
			p := g.passes[n]
			g.mu.Unlock()
			return p, nil
		}
		g.mu.Unlock()
		select {
		case <-wake:
		case <-g.exited:
			return pass{}, fmt.Errorf("kestra-guard exited while waiting for audit pass %d", n+1)
		case <-deadline:
			return pass{}, fmt.Errorf("audit pass %d did not %s within %s", n+1, map[bool]string{true: "finish", false: "start"}[finished], timeout)
		case <-ctx.Done():
			return pass{}, ctx.Err()
		}
	}
}

// pass returns pass n, if it has started.
func (g *guardProc) pass(n int) (pass, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.passes) > n {
		return g.passes[n], true
	}
	return pass{}, false
}

func (g *guardProc) passCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.passes)
}

func (g *guardProc) stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(40 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
}

// memory is VmRSS and VmHWM of the process, in MiB.
func (g *guardProc) memory() (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

// resetPeak sets VmHWM back to the current RSS (proc(5), clear_refs "5").
func (g *guardProc) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", g.cmd.Process.Pid), []byte("5"), 0)
}

// heap is go_memstats_heap_inuse_bytes in MiB.
func (g *guardProc) heap(ctx context.Context) (float64, error) {
	b, err := benchkit.Get(ctx, g.metrics)
	if err != nil {
		return 0, err
	}
	m, err := benchkit.Parse(g.metrics, b)
	if err != nil {
		return 0, err
	}
	return m.Sum("go_memstats_heap_inuse_bytes", nil) / (1 << 20), nil
}

// peakSampler reads RSS and heap every period until stopped, keeping the
// highest of each.
type peakSampler struct {
	stop    chan struct{}
	done    chan struct{}
	rss     float64
	heap    float64
	samples int
	// scraping is held while the sampler reads /metrics: alone, so that
	// a heap profile taken under it holds no scrape of the harness's own.
	scraping sync.Mutex
}

// alone runs f while the sampler does not read /metrics.
func (s *peakSampler) alone(f func()) {
	s.scraping.Lock()
	defer s.scraping.Unlock()
	f()
}

func (g *guardProc) samplePeaks(ctx context.Context, period time.Duration) *peakSampler {
	s := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for i := 0; ; i++ {
			rss, _ := g.memory()
			s.rss, s.samples = max(s.rss, rss), s.samples+1
			if i%10 == 0 {
				// /metrics every 2 s: a scrape allocates in kestra-guard
				// (at 100,000 Pods the audit gauge has thousands of series).
				s.scraping.Lock()
				h, _ := g.heap(ctx)
				s.scraping.Unlock()
				s.heap = max(s.heap, h)
			}
			select {
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *peakSampler) finish() *peakSampler { close(s.stop); <-s.done; return s }

// requests are the API server's apiserver_request_total, added up by
// "VERB resource[/subresource]"; requests to paths that are not resources
// (/metrics, /healthz) are left out.
type requests map[string]float64

func apiserverRequests(ctx context.Context, cs *kubernetes.Clientset) (requests, error) {
	b, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading kube-apiserver /metrics: %w", err)
	}
	return parseRequests(b)
}

func parseRequests(b []byte) (requests, error) {
	m, err := benchkit.Parse("kube-apiserver /metrics", b)
	if err != nil {
		return nil, err
	}
	out := requests{}
	for _, s := range m["apiserver_request_total"].GetMetric() {
		l, v := benchkit.Labels(s), benchkit.Value(s)
		if l["resource"] == "" {
			continue
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		out[key] += v
	}
	return out, nil
}

// minus is r - before, keeping what changed.
func (r requests) minus(before requests) requests {
	out := requests{}
	for k, v := range r {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func (r requests) total() float64 {
	t := 0.0
	for _, v := range r {
		t += v
	}
	return t
}

// sorted are the keys, most requests first.
func (r requests) sorted() []string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if r[keys[i]] != r[keys[j]] {
			return r[keys[i]] > r[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// latencies of admitted creates.
type latencies struct {
	lat    []time.Duration
	at     []time.Time // when each began (createRunners)
	errors int
	first  error
}

// endedWithin counts the requests that ended between from and to.
func (l latencies) endedWithin(from, to time.Time) int {
	n := 0
	for i, d := range l.lat {
		if end := l.at[i].Add(d); !end.Before(from) && !end.After(to) {
			n++
		}
	}
	return n
}

// within keeps the requests that began at or after from and ended by to.
func (l latencies) within(from, to time.Time) latencies {
	var out latencies
	for i, d := range l.lat {
		if !l.at[i].Before(from) && !l.at[i].Add(d).After(to) {
			out.lat, out.at = append(out.lat, d), append(out.at, l.at[i])
		}
	}
	return out
}

func (l latencies) pct(p float64) time.Duration {
	if len(l.lat) == 0 {
		return 0
	}
	s := slices.Clone(l.lat)
	slices.Sort(s)
	return s[int(p/100*float64(len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
