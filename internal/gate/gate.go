// Package gate is the start gate: the first init container kestra-guard puts
// in every guarded Pod. It tries each metadata endpoint from inside the Pod
// and returns only once every one of them has been unreachable several times
// in a row, so that no later container (Kestra's init-files, the user's
// commands) runs before the NetworkPolicy enforcer has applied the managed
// policy to the Pod. Where the network never blocks an endpoint (a CNI that
// ignores NetworkPolicy), it gives up after a bounded wait with an error that
// names the endpoint, and the Pod fails closed: its task never starts.
package gate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says what the gate tries and for how long.
type Config struct {
	// Endpoints are host:port addresses that must be unreachable.
	Endpoints []string
	// Consecutive is how many attempts in a row must fail for an endpoint
	// to count as blocked.
	Consecutive int
	// AttemptTimeout bounds one connection attempt: a dropped SYN counts as
	// blocked once it has passed.
	AttemptTimeout time.Duration
	// Interval is the pause between two rounds of attempts.
	Interval time.Duration
	// Timeout bounds the whole wait.
	Timeout time.Duration
	// Canary, when set, is a host:port that must answer in the same round
	// for that round's failures to count: it proves the Pod's network
	// carries packets at all, so that a data path that drops everything at
	// the Pod's start (and filters nothing once it works) is not read as
	// blocked.
	Canary string
}

// Validate returns every error of c at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("endpoints: expected at least one host:port"))
	}
	for i, e := range c.Endpoints {
		if _, _, err := ParseEndpoint(e); err != nil {
			errs = append(errs, fmt.Errorf("endpoints[%d]: %w", i, err))
		}
	}
	if c.Consecutive < 1 {
		errs = append(errs, fmt.Errorf("consecutive: %d: expected at least 1", c.Consecutive))
	}
	if c.AttemptTimeout <= 0 {
		errs = append(errs, fmt.Errorf("attemptTimeout: %s: expected a positive duration", c.AttemptTimeout))
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval: %s: expected 0 or more", c.Interval))
	}
	if c.Canary != "" {
		if _, _, err := ParseEndpoint(c.Canary); err != nil {
			errs = append(errs, fmt.Errorf("canary: %w", err))
		}
	}
	if c.Timeout < c.AttemptTimeout {
		errs = append(errs, fmt.Errorf("timeout: %s: expected at least attemptTimeout (%s)", c.Timeout, c.AttemptTimeout))
	}
	return errors.Join(errs...)
}

// ParseEndpoint reads host:port, where host must be a literal IP address:
// the gate proves that an address is unreachable, and a name could resolve
// elsewhere than where task code will connect.
func ParseEndpoint(s string) (net.IP, string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, "", fmt.Errorf("%q: expected host:port, such as 169.254.169.254:80 or [fd00:ec2::254]:80", s)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, "", fmt.Errorf("%q: expected an IP address, found %q", s, host)
	}
	if p, err := net.LookupPort("tcp", port); err != nil || p == 0 {
		return nil, "", fmt.Errorf("%q: expected a port 1-65535, found %q", s, port)
	}
	return ip, port, nil
}

// Dialer opens a TCP connection, as net.Dialer.DialContext does.
type Dialer func(ctx context.Context, network, address string) (net.Conn, error)

// Result is what the gate saw.
type Result struct {
	// Blocked is true when every endpoint was unreachable Consecutive times
	// in a row.
	Blocked bool
	// Rounds counts the rounds of attempts.
	Rounds int
	// Elapsed is the time from the first attempt to the verdict.
	Elapsed time.Duration
	// Reached counts, by endpoint, the attempts that connected.
	Reached map[string]int
	// Open lists the endpoints not yet blocked when the gate gave up.
	Open []string
	// Inconclusive counts, by endpoint, the attempts that failed for a
	// reason that says nothing of the network's filter (no local port, no
	// file descriptor, ...); Unsure is the last such error.
	Inconclusive map[string]int
	Unsure       map[string]string
}

// outcome is what one attempt proves.
type outcome int

const (
	reached outcome = iota
	blocked
	inconclusive
)

// classify reads a failed connection attempt: a timeout (a dropped SYN), a
// refusal (a REJECT, or no listener), an unreachable host or network (an
// ICMP reject, or no route) and a local firewall's EPERM/EACCES prove that
// the packet cannot get there. Anything else (EADDRNOTAVAIL, which a Pod can
// cause for every connection with net.ipv4.ip_local_reserved_ports, EMFILE,
// ENOBUFS, ...) proves nothing: it does not count towards the gate.
func classify(err error) outcome {
	var ne net.Error
	switch {
	case err == nil:
		return reached
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout(),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return blocked
	}
	return inconclusive
}

// Message is the gate's termination message: one line that says what it
// proved or, on timeout, which address stayed reachable and why that
// matters.
func (r Result) Message(c Config) string {
	if r.Blocked {
		return fmt.Sprintf("kestra-guard start gate: egress to %d metadata endpoint(s) blocked (%d attempts in a row each) after %s; starting the task",
			len(c.Endpoints), c.Consecutive, r.Elapsed.Round(time.Millisecond))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kestra-guard start gate: after %s, ", r.Elapsed.Round(time.Second))
	for i, e := range r.Open {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (reached %d times)", e, r.Reached[e])
	}
	b.WriteString(" still reachable from this Pod: NetworkPolicy is not enforced for it (does the cluster's CNI enforce NetworkPolicy? is kestra-guard-block-metadata in its namespace?); the task was not started")
	for _, e := range r.Open {
		if n := r.Inconclusive[e]; n > 0 {
			fmt.Fprintf(&b, "; %s: %d attempts failed for a reason that proves nothing (%s)", e, n, r.Unsure[e])
		}
	}
	return b.String()
}

// Run tries every endpoint in rounds until each has failed Consecutive
// times in a row, or until Timeout. Attempts of one round run in parallel,
// so a round lasts at most AttemptTimeout. It returns an error only for an
// invalid configuration; a timeout is a Result with Blocked false.
func Run(ctx context.Context, c Config, dial Dialer) (Result, error) {
	if err := c.Validate(); err != nil {
		return Result{}, err
	}
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	res := Result{Reached: map[string]int{}, Inconclusive: map[string]int{}, Unsure: map[string]string{}}
	streak := make([]int, len(c.Endpoints))
	for {
		res.Rounds++
		results := make([]outcome, len(c.Endpoints))
		errs := make([]error, len(c.Endpoints))
		var wg sync.WaitGroup
		var canaryErr error
		if c.Canary != "" {
			wg.Add(1)
			go func() {
				defer wg.Done()
				canaryErr = attempt(ctx, dial, c.Canary, c.AttemptTimeout)
			}()
		}
		for i, e := range c.Endpoints {
			if streak[i] >= c.Consecutive {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := attempt(ctx, dial, e, c.AttemptTimeout)
				results[i], errs[i] = classify(err), err
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			// An attempt cut short by the overall deadline proves nothing.
			break
		}
		done := true
		for i, e := range c.Endpoints {
			if streak[i] >= c.Consecutive {
				continue
			}
			if results[i] == blocked && canaryErr != nil {
				// The network carried nothing this round: the failure proves nothing.
				results[i], errs[i] = inconclusive, fmt.Errorf("the canary %s did not answer in the same round: %w", c.Canary, canaryErr)
			}
			switch results[i] {
			case blocked:
				streak[i]++
			case reached:
				streak[i] = 0
				res.Reached[e]++
			default:
				streak[i] = 0
				res.Inconclusive[e]++
				res.Unsure[e] = errs[i].Error()
			}
			done = done && streak[i] >= c.Consecutive
		}
		if done {
			res.Blocked = true
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(c.Interval):
			continue
		}
		break
	}
	res.Elapsed = time.Since(start)
	if !res.Blocked {
		for i, e := range c.Endpoints {
			if streak[i] < c.Consecutive {
				res.Open = append(res.Open, e)
			}
		}
	}
	return res, nil
}

// attempt opens one TCP connection to address within timeout, closes it,
// and returns the dial's error.
func attempt(ctx context.Context, dial Dialer, address string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(ctx, "tcp", address)
	if err == nil {
		_ = conn.Close()
	}
	return err
}
