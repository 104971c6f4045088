package policy

import (
	"net"
	"net/netip"
	"net/url"
	"testing"
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
	}
	for s, want := range found {
		if got := o.MetadataAddressIn(s); got != want {
			t.Errorf("MetadataAddressIn(%q) = %q, want %q", s, got, want)
		}
	}
	for _, s := range []string{"", "python main.py", "10.0.0.1", "https://api.example.com:443/v1", "169.254", "1.2.3.4:5678",
		"version 2.4.1", "fd00::1", "pip install requests==2.31.0", "[::1]:8080", "0x10"} {
		if got := o.MetadataAddressIn(s); got != "" {
			t.Errorf("MetadataAddressIn(%q) = %q, want none", s, got)
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

// Every string Go's own IP or URL parsing resolves to a metadata address is
// detected, and detection never panics.
func FuzzMetadataAddressIn(f *testing.F) {
	for _, s := range []string{"169.254.169.254", "http://[fd00:ec2::254]/", "0xa9fea9fe", "::ffff:169.254.169.254",
		"http://%31%36%39.254.169.254/", "fe80::1%25eth0", "100.100.100.200:80", "metadata.google.internal", "a b c"} {
		f.Add(s)
	}
	o := testEngine(f, nil).Options()
	f.Fuzz(func(t *testing.T, s string) {
		got := o.MetadataAddressIn(s)
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
