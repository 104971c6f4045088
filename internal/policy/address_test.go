package policy

import (
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

func TestMetadataAddressIn(t *testing.T) {
	o := testEngine(t, nil).Options()
	found := map[string]string{
		"169.254.169.254":                      "169.254.169.254",
		"curl http://169.254.169.254/latest/":  "169.254.169.254",
		"http://2852039166/":                   "169.254.169.254",
		"0xa9fea9fe":                           "169.254.169.254",
		"0xA9.0xFE.0xA9.0xFE":                  "169.254.169.254",
		"0251.0376.0251.0376":                  "169.254.169.254",
		"169.254.43518":                        "169.254.169.254",
		"169.16689662":                         "169.254.169.254",
		"::ffff:169.254.169.254":               "169.254.169.254",
		"http://[::ffff:a9fe:a9fe]:80/":        "169.254.169.254",
		"[fd00:ec2::254]":                      "fd00:ec2::254",
		"http://[fd00:ec2::23]/v1/credentials": "fd00:ec2::23",
		"fe80::a9fe:a9fe%eth0":                 "fe80::a9fe:a9fe",
		"64:ff9b::169.254.169.254":             "169.254.169.254",
		"169.254.170.2:80":                     "169.254.170.2",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials":        "169.254.170.23",
		"wget -qO- 168.63.129.16/machine?comp=goalstate":                                 "168.63.129.16",
		"http://100.100.100.200/latest/meta-data/":                                       "100.100.100.200",
		"http://user:pw@169.254.169.254/":                                                "169.254.169.254",
		"http://%31%36%39.254.169.254/":                                                  "169.254.169.254",
		"see 169.254.169.254.":                                                           "169.254.169.254",
		"curl -H 'Metadata-Flavor: Google' metadata.google.internal/computeMetadata/v1/": "metadata.google.internal",
		"METADATA.GOOGLE.INTERNAL.":                                                      "metadata.google.internal",
		// Unicode look-alikes, mapped as IDNA (UTS 46) does before resolving.
		"http://\uff11\uff16\uff19\uff0e\uff12\uff15\uff14\uff0e\uff11\uff16\uff19\uff0e\uff12\uff15\uff14/": "169.254.169.254", // full-width
		"http://169\u3002254\u3002169\u3002254/":                           "169.254.169.254", // ideographic full stop
		"http://169\uff61254\uff61169\uff61254/":                           "169.254.169.254", // half-width ideographic full stop
		"http://\U0001d7cf\U0001d7d4\U0001d7d7.254.169.254/":               "169.254.169.254", // mathematical digits
		"\u2460\u2465\u2468.254.169.254":                                   "169.254.169.254", // circled digits
		"169.254.\u00b9\u2076\u2079.254":                                   "169.254.169.254", // superscripts
		"169.254\u200b.169\ufeff.254":                                      "169.254.169.254", // zero-width space, BOM
		"http://meta\u00addata.google.internal/computeMetadata/v1/":        "metadata.google.internal",
		"\uff4d\uff45\uff54\uff41\uff44\uff41\uff54\uff41.google.internal": "metadata.google.internal",
		"metadata.goo\u034fgle.inter\ufe0fnal":                             "metadata.google.internal",
		// Percent-encoding before and after the mapping.
		"http://%EF%BC%91%EF%BC%96%EF%BC%99.254.169.254/":                            "169.254.169.254",
		"http://meta%C2%ADdata.google.internal/":                                     "metadata.google.internal",
		"http://\uff05\uff13\uff11\uff05\uff13\uff16\uff05\uff13\uff19.254.169.254/": "169.254.169.254",
		"curl http://%31%36%39.254.169.254/ # at 100%":                               "169.254.169.254",
		// Padding: any number of leading zeros.
		"http://0x" + strings.Repeat("0", 300) + "a9fea9fe/":  "169.254.169.254",
		"0" + strings.Repeat("0", 300) + "251.0376.0251.0376": "169.254.169.254",
		"169.254.0x" + strings.Repeat("0", 200) + "a9fe":      "169.254.169.254",
		// A zone, even an empty or odd one, does not change the address.
		"fe80::% ":      "fe80::",
		"[fe80::%]:80":  "fe80::",
		"fe80::1%eth0 ": "fe80::1",
	}
	for s, want := range found {
		if got := o.MetadataAddressIn(s); got != want {
			t.Errorf("MetadataAddressIn(%q) = %q, want %q", s, got, want)
		}
	}
	for _, s := range []string{"", "python main.py", "10.0.0.1", "https://api.example.com:443/v1", "169.254", "1.2.3.4:5678",
		"version 2.4.1", "fd00::1", "pip install requests==2.31.0", "[::1]:8080", "0x10", "caf\u00e9 \uff11\uff10.0.0.1", "100%", "50% of 2852039",
		"\u0661\u0666\u0669.254.169.254"} { // Arabic-Indic digits: IDNA keeps them, no resolver reads them as an address
		if got := o.MetadataAddressIn(s); got != "" {
			t.Errorf("MetadataAddressIn(%q) = %q, want none", s, got)
		}
	}
}

// What the README says no-metadata-address does not decide: names resolved
// through DNS and addresses built at run time. If one is detected one day,
// update the README with this list.
func TestMetadataAddressLimits(t *testing.T) {
	o := testEngine(t, nil).Options()
	for _, s := range []string{
		"curl http://169.254.169.254.nip.io/latest/meta-data/", // DNS wildcard
		"curl http://imds.example.com/",                        // a record of your own
		`curl http://$(printf '%d.%d.%d.%d' 169 254 169 254)/`, // built at run time
		"curl http://$A.$B.169.254/",
	} {
		if got := o.MetadataAddressIn(s); got != "" {
			t.Errorf("MetadataAddressIn(%q) = %q: now detected, update the README's list of what is not decided", s, got)
		}
	}
}

func TestCleanHostPath(t *testing.T) {
	for in, want := range map[string]string{
		"/var/run/docker.sock":   "/var/run/docker.sock",
		"//var//run/docker.sock": "/var/run/docker.sock",
		"/var/./run/":            "/var/run",
		"/var/log/../run":        "/var/run",
		"/../../etc":             "/etc",
		"etc/kubernetes":         "/etc/kubernetes",
		"":                       "/",
	} {
		if got := CleanHostPath(in); got != want {
			t.Errorf("CleanHostPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCredentialExposure(t *testing.T) {
	for p, want := range map[string]string{
		"/run/docker.sock":     "is /var/run/docker.sock",
		"/var/run":             "contains /var/run/docker.sock",
		"/var/lib":             "contains /var/lib/kubelet",
		"/etc/kubernetes/pki":  "lies inside /etc/kubernetes",
		"/home/ubuntu/.aws":    "lies inside /home",
		"/data/kestra":         "",
		"/var/run/secrets/eks": "lies inside /var/run/secrets",
	} {
		got := CredentialExposure(p)
		if (want == "") != (got == "") || len(got) < len(want) || got[:len(want)] != want {
			t.Errorf("CredentialExposure(%q) = %q, want it to start with %q", p, got, want)
		}
	}
}

// lookupIDNA maps a host name as resolvers that follow UTS 46 do.
var lookupIDNA = idna.New(idna.MapForLookup(), idna.Transitional(true), idna.StrictDomainName(false))

// lookAlike writes ASCII s in full-width forms with a soft hyphen after
// every character: IDNA maps it back to s.
func lookAlike(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > ' ' && r < 0x7f {
			r += 0xFF01 - '!'
		}
		b.WriteRune(r)
		b.WriteRune(0x00AD)
	}
	return b.String()
}

// Every string Go's own IP or URL parsing, or IDNA's mapping, resolves to a
// metadata address is detected; a look-alike spelling of any string is
// detected exactly as the string itself; detection never panics.
func FuzzMetadataAddressIn(f *testing.F) {
	for _, s := range []string{"169.254.169.254", "http://[fd00:ec2::254]/", "0xa9fea9fe", "::ffff:169.254.169.254",
		"http://%31%36%39.254.169.254/", "fe80::1%25eth0", "100.100.100.200:80", "metadata.google.internal", "a b c",
		"\uff11\uff16\uff19\u3002254.169.254", "meta\u00addata.google.internal", "%EF%BC%91%EF%BC%96%EF%BC%99.254.169.254",
		"0x" + strings.Repeat("0", 120) + "a9fea9fe", "http://[febf::]/ a:b:c sleep 1; done v1.2 3.a b.4 x:1"} {
		f.Add(s)
	}
	o := testEngine(f, nil).Options()
	// The in-tree scan's tokens (celMetadataIn), as CEL's findAll finds
	// them with Go's regexp: the runs of its character class that hold a
	// digit and a dot or two colons, and among them every run one of whose
	// candidates (as celMetadataIn makes them) is an IP literal.
	celRuns := regexp.MustCompile(`[0-9A-Za-z.:\[\]%]+`)
	celTokens := regexp.MustCompile(strings.ReplaceAll(celAddressTokens, `\\`, `\`))
	f.Fuzz(func(t *testing.T, s string) {
		got := o.MetadataAddressIn(s)
		var runs []string
		for _, r := range celRuns.FindAllString(s, -1) {
			if strings.ContainsAny(r, "0123456789") && strings.Contains(r, ".") || strings.Count(r, ":") >= 2 {
				runs = append(runs, r)
				continue
			}
			tr := strings.TrimRight(r, ".:")
			candidates := []string{r, tr, strings.Split(strings.ReplaceAll(r, "[", ""), "]")[0]}
			if parts := strings.Split(tr, ":"); len(parts) == 2 {
				candidates = append(candidates, parts...)
			}
			for _, c := range candidates {
				if _, err := netip.ParseAddr(c); err == nil {
					t.Fatalf("in-tree scan of %q: the run %q is skipped, but its candidate %q is an IP literal", s, r, c)
				}
			}
		}
		if toks := celTokens.FindAllString(s, -1); !slices.Equal(toks, runs) {
			t.Fatalf("in-tree tokens of %q: %q, want the runs with a digit and a dot or two colons %q", s, toks, runs)
		}
		if a, err := netip.ParseAddr(s); err == nil && o.IsMetadata(a.WithZone("").Unmap()) && got == "" {
			t.Fatalf("netip.ParseAddr(%q) = %v, a metadata address, not detected", s, a)
		}
		if ip := net.ParseIP(s); ip != nil {
			if a, ok := netip.AddrFromSlice(ip); ok && o.IsMetadata(a.Unmap()) && got == "" {
				t.Fatalf("net.ParseIP(%q) = %v, a metadata address, not detected", s, ip)
			}
		}
		if u, err := url.Parse(s); err == nil {
			if a, err := netip.ParseAddr(u.Hostname()); err == nil && o.IsMetadata(a.WithZone("").Unmap()) && got == "" {
				t.Fatalf("url.Parse(%q).Hostname() = %v, a metadata address, not detected", s, a)
			}
		}
		if h, err := lookupIDNA.ToASCII(s); err == nil && got == "" {
			h = strings.TrimSuffix(h, ".")
			if a, ok := ParseHostAddr(h); ok && o.IsMetadata(a) {
				t.Fatalf("IDNA maps %q to %q, a metadata address, not detected", s, h)
			}
			for _, name := range o.MetadataHostnames {
				if h == name {
					t.Fatalf("IDNA maps %q to %q, a metadata name, not detected", s, h)
				}
			}
		}
		var toks []string
		for tok, i := nextToken(s, 0); tok != ""; tok, i = nextToken(s, i) {
			toks = append(toks, tok)
		}
		if want := strings.FieldsFunc(s, isAddressSeparator); !slices.Equal(toks, want) {
			t.Fatalf("tokens of %q: %q, strings.FieldsFunc gives %q", s, toks, want)
		}
		if _, ok := ParseHostAddr(s); ok && !mayBeAddress(s) {
			t.Fatalf("ParseHostAddr(%q) reads an address that mayBeAddress skips", s)
		}
		if n := NormalizeHost(s); NormalizeHost(n) != n {
			t.Fatalf("NormalizeHost(%q) = %q is not stable", s, n)
		}
		if utf8.ValidString(s) && len(s) < 200 {
			if la := lookAlike(s); o.MetadataAddressIn(la) != got {
				t.Fatalf("look-alike %q of %q: found %q, want %q", la, s, o.MetadataAddressIn(la), got)
			}
		}
	})
}

func FuzzCleanHostPath(f *testing.F) {
	for _, s := range []string{"/var/run/docker.sock", "//./..", "a/../../b/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := CleanHostPath(s)
		if c == "" || c[0] != '/' || CleanHostPath(c) != c {
			t.Fatalf("CleanHostPath(%q) = %q: not absolute or not idempotent", s, c)
		}
		_ = CredentialExposure(c)
	})
}
