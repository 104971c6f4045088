package gate

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func fast(endpoints ...string) Config {
	return Config{Endpoints: endpoints, Consecutive: 3, AttemptTimeout: 200 * time.Millisecond, Interval: time.Millisecond, Timeout: 2 * time.Second}
}

// A listener on loopback stands for a metadata server the network does not
// block: the gate never passes, and says which endpoint stayed reachable.
func TestReachableEndpointKeepsTheGateShut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	c := fast(ln.Addr().String())
	c.Timeout = 300 * time.Millisecond
	res, err := Run(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocked {
		t.Fatalf("the gate passed while %s answered: %+v", ln.Addr(), res)
	}
	if len(res.Open) != 1 || res.Open[0] != ln.Addr().String() || res.Reached[ln.Addr().String()] == 0 {
		t.Errorf("result %+v: want %s open and reached", res, ln.Addr())
	}
	msg := res.Message(c)
	for _, want := range []string{ln.Addr().String(), "still reachable", "NetworkPolicy is not enforced", "the task was not started"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

// A closed port on loopback refuses every attempt: blocked after exactly
// Consecutive rounds.
func TestUnreachableEndpointOpensTheGate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	res, err := Run(context.Background(), fast(addr, "[::1]:1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Blocked || res.Rounds != 3 || len(res.Open) != 0 {
		t.Errorf("result %+v: want blocked after 3 rounds", res)
	}
}

// script is a dialer that answers each endpoint's attempts in turn from a
// script: true connects, false fails.
type script struct {
	mu    sync.Mutex
	steps map[string][]bool
	calls map[string]int
}

func (s *script) dial(_ context.Context, _, address string) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.calls[address]
	s.calls[address]++
	if st := s.steps[address]; n < len(st) && st[n] {
		a, b := net.Pipe()
		_ = b.Close()
		return a, nil
	}
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
}

// A failure that says nothing of the network's filter keeps the gate shut:
// a Pod's net.ipv4.ip_local_reserved_ports can make every connect fail with
// EADDRNOTAVAIL, where no NetworkPolicy is enforced at all.
func TestInconclusiveFailuresKeepTheGateShut(t *testing.T) {
	for name, err := range map[string]error{
		"no local port":  &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EADDRNOTAVAIL)},
		"no file":        &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)},
		"something else": errors.New("weird"),
	} {
		t.Run(name, func(t *testing.T) {
			c := fast("10.0.0.1:80")
			c.Timeout = 200 * time.Millisecond
			res, rerr := Run(context.Background(), c, func(context.Context, string, string) (net.Conn, error) { return nil, err })
			if rerr != nil {
				t.Fatal(rerr)
			}
			if res.Blocked || res.Inconclusive["10.0.0.1:80"] == 0 {
				t.Fatalf("result %+v: want the gate shut, the attempts counted as inconclusive", res)
			}
			if msg := res.Message(c); !strings.Contains(msg, "proves nothing") {
				t.Errorf("message %q does not say the failures prove nothing", msg)
			}
		})
	}
	for name, err := range map[string]error{
		"refused":             &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
		"host unreachable":    &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)},
		"network unreachable": &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)},
		"local firewall":      &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EPERM)},
		"timeout":             context.DeadlineExceeded,
	} {
		t.Run(name, func(t *testing.T) {
			res, rerr := Run(context.Background(), fast("10.0.0.1:80"), func(context.Context, string, string) (net.Conn, error) { return nil, err })
			if rerr != nil || !res.Blocked {
				t.Fatalf("result %+v (%v): want blocked", res, rerr)
			}
		})
	}
}

// The enforcer catches up while the gate waits: attempts that connect, then
// failures. A failure followed by a success starts the count again, so the
// gate passes only after Consecutive failures in a row, on every endpoint.
func TestGateCountsFailuresInARow(t *testing.T) {
	s := &script{calls: map[string]int{}, steps: map[string][]bool{
		"10.0.0.1:80": {true, true, false, false, true, false, false}, // blocked for good from the 6th attempt
		"10.0.0.2:80": {false},
	}}
	res, err := Run(context.Background(), fast("10.0.0.1:80", "10.0.0.2:80"), s.dial)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Blocked {
		t.Fatalf("result %+v: want blocked", res)
	}
	if got := s.calls["10.0.0.1:80"]; got != 8 {
		t.Errorf("10.0.0.1:80 tried %d times; want 8 (3 reached, then 3 failures in a row after the last)", got)
	}
	if res.Reached["10.0.0.1:80"] != 3 || res.Rounds != 8 {
		t.Errorf("result %+v: want 3 reached and 8 rounds", res)
	}
	if got := s.calls["10.0.0.2:80"]; got != 3 {
		t.Errorf("10.0.0.2:80 tried %d times; want 3: a blocked endpoint is not tried again", got)
	}
}

func TestConfigErrors(t *testing.T) {
	err := Config{Endpoints: []string{"metadata.google.internal:80", "169.254.169.254", "[::1]:0"}, Consecutive: 0, AttemptTimeout: 0, Timeout: -1}.Validate()
	for _, want := range []string{
		`endpoints[0]: "metadata.google.internal:80": expected an IP address`,
		`endpoints[1]: "169.254.169.254": expected host:port`,
		`endpoints[2]: "[::1]:0": expected a port 1-65535`,
		"consecutive: 0: expected at least 1",
		"attemptTimeout: 0s: expected a positive duration",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// With a canary, a round's failures count only if the canary answered in
// that round: a network that drops everything at the Pod's start is not
// read as blocked.
func TestCanaryMustAnswer(t *testing.T) {
	for name, canaryUp := range map[string]bool{"canary down": false, "canary up": true} {
		t.Run(name, func(t *testing.T) {
			s := &script{calls: map[string]int{}, steps: map[string][]bool{"10.0.0.9:80": slicesRepeat(canaryUp, 100)}}
			c := fast("10.0.0.1:80")
			c.Canary, c.Timeout = "10.0.0.9:80", 300*time.Millisecond
			res, err := Run(context.Background(), c, s.dial)
			if err != nil {
				t.Fatal(err)
			}
			if res.Blocked != canaryUp {
				t.Fatalf("result %+v: want blocked=%v", res, canaryUp)
			}
			if !canaryUp && !strings.Contains(res.Message(c), "the canary 10.0.0.9:80 did not answer") {
				t.Errorf("message %q does not name the canary", res.Message(c))
			}
		})
	}
}

func slicesRepeat(v bool, n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = v
	}
	return out
}
