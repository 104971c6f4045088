package policy

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"go4.org/netipx"
)

// uncoveredNetipx is the subtraction done with go4.org/netipx: the oracle
// of uncovered, which stays hand-written because it is about 100 times as
// fast and allocates nothing (BenchmarkUncovered).
func uncoveredNetipx(p netip.Prefix, except []netip.Prefix) (netip.Prefix, bool) {
	var b netipx.IPSetBuilder
	b.AddPrefix(p)
	for _, e := range except {
		b.RemovePrefix(e)
	}
	left, err := b.IPSet()
	if err != nil {
		panic(err)
	}
	if ps := left.Prefixes(); len(ps) > 0 {
		return ps[0], true // the largest aligned prefix at the lowest address left
	}
	return netip.Prefix{}, false
}

// randomPrefix draws a prefix near the metadata ranges, so that random
// excepts overlap the region often, in either family.
func randomPrefix(r *rand.Rand, v6 bool) netip.Prefix {
	if v6 {
		a := netip.MustParseAddr("fd00:ec2::254").As16()
		a[15], a[14] = byte(r.IntN(256)), byte(r.IntN(4))
		return netip.PrefixFrom(netip.AddrFrom16(a), 96+r.IntN(33)).Masked()
	}
	a := [4]byte{169, 254, byte(r.IntN(256)), byte(r.IntN(256))}
	if r.IntN(8) == 0 {
		a[0], a[1] = byte(r.IntN(256)), byte(r.IntN(256))
	}
	return netip.PrefixFrom(netip.AddrFrom4(a), 8+r.IntN(25)).Masked()
}

// uncovered and netipx agree on whether a hole is left and on the hole
// they name, for random regions and excepts;
// the hole is inside the region and outside every except.
func TestUncoveredAgreesWithNetipx(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		v6 := i%2 == 1
		p := randomPrefix(r, v6)
		var except []netip.Prefix
		for range r.IntN(6) {
			except = append(except, randomPrefix(r, v6))
		}
		switch r.IntN(4) {
		case 0:
			except = append(except, p) // the whole region
		case 1:
			// The region cut in pieces, each an except, one of them
			// sometimes left out: closed only by several excepts together.
			pieces := []netip.Prefix{p}
			for range 1 + r.IntN(3) {
				q := pieces[0]
				if q.Bits() == q.Addr().BitLen() {
					break
				}
				lo, hi := split(q)
				pieces = append(pieces[1:], lo, hi)
			}
			if r.IntN(2) == 0 {
				pieces = slices.Delete(pieces, 0, 1)
			}
			except = append(except, pieces...)
		}
		got, gotOpen := uncovered(p, except)
		want, wantOpen := uncoveredNetipx(p, except)
		if got != want || gotOpen != wantOpen {
			t.Fatalf("uncovered(%v, %v) = %v, %v; netipx gives %v, %v", p, except, got, gotOpen, want, wantOpen)
		}
		if !gotOpen {
			continue
		}
		if !p.Contains(got.Addr()) || got.Bits() < p.Bits() {
			t.Fatalf("uncovered(%v, %v) = %v, outside the region", p, except, got)
		}
		for _, e := range except {
			if e.Overlaps(got) {
				t.Fatalf("uncovered(%v, %v) = %v, which except %v overlaps", p, except, got, e)
			}
		}
	}
}

// BenchmarkUncovered compares the hand-written subtraction with netipx on
// the managed policy's IPv4 block (the metadata range minus its excepts) and
// on a block that leaves a hole.
func BenchmarkUncovered(b *testing.B) {
	region := netip.MustParsePrefix("169.254.0.0/16")
	except := []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("168.63.129.16/32"), netip.MustParsePrefix("100.100.100.200/32")}
	partial := []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("169.254.170.2/32")}
	for _, c := range []struct {
		name   string
		except []netip.Prefix
	}{{"covered", except}, {"hole", partial}} {
		b.Run(c.name+"/hand-written", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				uncovered(region, c.except)
			}
		})
		b.Run(c.name+"/netipx", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				uncoveredNetipx(region, c.except)
			}
		})
	}
}
