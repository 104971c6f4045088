package integration

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// balancer is a TCP load balancer in front of the replicas, as a Service
// is: new connections go round-robin to the backends in rotation; taking a
// backend out of rotation leaves its open connections alone.
type balancer struct {
	mu       sync.Mutex
	backends []string
	inRot    []bool
	next     int
	ln       net.Listener
}

func (b *balancer) serve() {
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			return
		}
		go b.proxy(conn)
	}
}

func (b *balancer) pick() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for range b.backends {
		b.next = (b.next + 1) % len(b.backends)
		if b.inRot[b.next] {
			return b.backends[b.next]
		}
	}
	return ""
}

func (b *balancer) proxy(in net.Conn) {
	defer func() { _ = in.Close() }()
	addr := b.pick()
	if addr == "" {
		return
	}
	out, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer func() { _ = out.Close() }()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
	<-done
}

func (b *balancer) rotate(i int, in bool) {
	b.mu.Lock()
	b.inRot[i] = in
	b.mu.Unlock()
}

type replica struct {
	cancel context.CancelFunc
	done   chan error
}

func startReplica(cfg config.Config, cp *framework.ControlPlane) *replica {
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- framework.Serve(ctx, cfg, cp.Config, framework.TestLogger()) }()
	return r
}

func (r *replica) stop() error { r.cancel(); return <-r.done }

func waitPort(t *testing.T, addr string) {
	t.Helper()
	framework.Eventually(t, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
}

// Two replicas behind a balancer, restarted one at a time the way a
// rolling update does it (out of rotation, SIGTERM, start, back in
// rotation), under load through the API server: no admission fails.
func TestRollingRestartUnderLoad(t *testing.T) {
	cp, cfg, stop, err := framework.StartWithChartWebhooks(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	cp.CreateNamespace(t, framework.GuardNamespace, nil)
	cp.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true"})
	ctx := context.Background()

	wio := cp.Env.WebhookInstallOptions
	ln, err := net.Listen("tcp", net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)))
	if err != nil {
		t.Fatal(err)
	}
	lb := &balancer{ln: ln, inRot: []bool{true, true}}
	var cfgs [2]config.Config
	var reps [2]*replica
	for i := range cfgs {
		port, err := framework.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cfgs[i] = cfg
		cfgs[i].Server.Port = port
		cfgs[i].Server.ShutdownDelay.Duration = 2 * time.Second
		lb.backends = append(lb.backends, net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(port)))
		reps[i] = startReplica(cfgs[i], cp)
	}
	go lb.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		for _, r := range reps {
			_ = r.stop()
		}
	})
	for _, b := range lb.backends {
		waitPort(t, b)
	}
	framework.Eventually(t, func() error { return cp.Client.Create(ctx, hardenedPod("runners", "probe"), client.DryRunAll) })

	load := admitUnderLoad(cp.Client, "runners")
	time.Sleep(time.Second)
	for i := range reps {
		lb.rotate(i, false)
		time.Sleep(500 * time.Millisecond) // endpoints propagate before the kubelet sends SIGTERM
		if err := reps[i].stop(); err != nil {
			t.Errorf("replica %d stopped with %v", i, err)
		}
		reps[i] = startReplica(cfgs[i], cp)
		waitPort(t, lb.backends[i])
		lb.rotate(i, true)
		time.Sleep(time.Second)
	}
	load.check(t, 50)
}
