//go:build e2e

package e2e

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// The suite's binary, re-executed in the gateway's network namespace with
// these variables, serves DNS there (serveDNS).
const (
	dnsServeEnv  = "KG_E2E_DNS_SERVE"
	dnsAnswerEnv = "KG_E2E_DNS_ANSWER"
)

// Case 9: DNS keeps working. A stand-in node-local DNS server on a test
// address inside the blocked 169.254.0.0/16 (nodeLocalDNS in the chart's
// values) answers a guarded task over UDP and accepts TCP on port 53, while
// its port 80 and the fake metadata server stay unreachable.
func TestNodeLocalDNS(t *testing.T) {
	startDNS(t)
	p := create(t, runnerNS, scriptPod("dns", "/probes/dns.sh"))
	code, msg := terminated(t, runnerNS, p.Name, "main", 3*time.Minute)
	t.Logf("dns probe: exit %d, %q", code, msg)
	if want := "metadata=blocked dns-udp=resolved dns-tcp=open port80=closed"; code != 0 || msg != want {
		t.Errorf("dns probe: exit %d, %q; want exit 0 and %q", code, msg, want)
	}
}

// startDNS runs the stand-in DNS server in the gateway's namespace until the
// test ends.
func startDNS(t *testing.T) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", env.gwNS, self)
	cmd.Env = append(os.Environ(), dnsServeEnv+"="+env.dnsIP, dnsAnswerEnv+"="+env.peerIP)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the DNS server in %s: %v", env.gwNS, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Logf("DNS server output: %s", out)
	})
	time.Sleep(500 * time.Millisecond) // the listeners bind at once; a missing one is a test failure below
}

// serveDNS answers every A query with answer, on UDP and TCP port 53 of
// addr, and accepts (then closes) TCP on port 80, which a guarded task must
// not reach. It runs until killed.
func serveDNS(addr, answer string) int {
	a, err := netip.ParseAddr(answer)
	if err != nil || !a.Is4() {
		fmt.Fprintln(os.Stderr, "dns: answer:", answer, err)
		return 2
	}
	udp, err := net.ListenPacket("udp", net.JoinHostPort(addr, "53"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dns:", err)
		return 1
	}
	tcp, err := net.Listen("tcp", net.JoinHostPort(addr, "53"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dns:", err)
		return 1
	}
	other, err := net.Listen("tcp", net.JoinHostPort(addr, "80"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dns:", err)
		return 1
	}
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				var n [2]byte
				if _, err := io.ReadFull(c, n[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(n[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				if r := reply(q, a.As4()); r != nil {
					_, _ = c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(r))), r...))
				}
			}()
		}
	}()
	fmt.Println("dns: serving", addr)
	buf := make([]byte, 1500)
	for {
		n, from, err := udp.ReadFrom(buf)
		if err != nil {
			return 1
		}
		if r := reply(buf[:n], a.As4()); r != nil {
			_, _ = udp.WriteTo(r, from)
		}
	}
}

// reply answers query: an A record with answer for A questions, no record
// (NOERROR) for the others.
func reply(query []byte, answer [4]byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	if q.Type == dnsmessage.TypeA {
		_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}, dnsmessage.AResource{A: answer})
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}
