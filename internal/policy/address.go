package policy

import (
	"net/netip"
	"net/url"
	"strings"
)

// nat64 is the well-known NAT64 prefix: 64:ff9b::a.b.c.d reaches a.b.c.d.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// MetadataAddressIn returns the first metadata address written in s, in any
// encoding an HTTP client or resolver accepts (dotted, decimal, hex, octal,
// short forms, IPv4-mapped or NAT64 IPv6, brackets, zones, percent-encoding,
// URLs), or a metadata hostname. It returns "" when there is none.
func (o *Options) MetadataAddressIn(s string) string {
	if s == "" {
		return ""
	}
	lower := strings.ToLower(s)
	for _, h := range o.MetadataHostnames {
		if strings.Contains(lower, h) {
			return h
		}
	}
	if strings.Contains(s, "%") {
		if u, err := url.PathUnescape(s); err == nil && u != s {
			if found := o.MetadataAddressIn(u); found != "" {
				return found
			}
		}
		if u, err := url.Parse(s); err == nil {
			if found := o.metadataToken(u.Hostname()); found != "" {
				return found
			}
		}
	}
	for tok := range strings.FieldsFuncSeq(s, isAddressSeparator) {
		if found := o.metadataToken(tok); found != "" {
			return found
		}
	}
	return ""
}

// isAddressSeparator splits command lines, URLs and key=value text into
// tokens that may each be a host, keeping the characters of IPv6 and
// bracketed forms together.
func isAddressSeparator(r rune) bool {
	switch {
	case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		return false
	case r == '.', r == ':', r == '[', r == ']', r == '%':
		return false
	}
	return true
}

// metadataToken checks one token: an address, an address with a port, or a
// bracketed IPv6 address with or without a port; trailing dots and colons of
// prose ("see 169.254.169.254.") are tried both kept and cut.
func (o *Options) metadataToken(tok string) string {
	if tok == "" || len(tok) > 100 {
		return ""
	}
	trimmed := strings.TrimRight(tok, ".:")
	candidates := [4]string{tok, trimmed}
	if i := strings.LastIndexByte(tok, ']'); i > 0 && strings.HasPrefix(tok, "[") {
		candidates[2] = tok[1:i]
	} else if i := strings.LastIndexByte(trimmed, ':'); i > 0 && strings.Count(trimmed, ":") == 1 {
		candidates[2] = trimmed[:i] // host:port
		candidates[3] = trimmed[i+1:]
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if a, ok := ParseHostAddr(c); ok && o.IsMetadata(a) {
			return a.String()
		}
	}
	return ""
}

// IsMetadata reports whether a falls in a configured metadata range.
func (o *Options) IsMetadata(a netip.Addr) bool {
	for _, p := range o.Metadata {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseHostAddr parses s as an IP address the way clients resolve a host:
// IPv6 (zone dropped, IPv4-mapped and NAT64 forms unmapped) or IPv4 in the
// inet_aton forms: a.b.c.d, a.b.c, a.b, a, each part decimal, 0x-hex or
// 0-octal. It does not allocate for strings that are no address.
func ParseHostAddr(s string) (netip.Addr, bool) {
	if strings.Count(s, ":") >= 2 && isIPv6Chars(s) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = a.WithZone("")
		if nat64.Contains(a) {
			b := a.As16()
			return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
		}
		return a.Unmap(), true
	}
	return parseInetAton(s)
}

// isIPv6Chars reports whether s, up to a zone, has only the characters of
// an IPv6 address (with an embedded IPv4 part).
func isIPv6Chars(s string) bool {
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') && c != ':' && c != '.' {
			return false
		}
	}
	return true
}

func parseInetAton(s string) (netip.Addr, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return netip.Addr{}, false
	}
	s = strings.TrimSuffix(s, ".") // a trailing dot, as in a FQDN
	var parts [4]uint64
	n := 0
	for {
		part, rest, more := strings.Cut(s, ".")
		if n == 4 {
			return netip.Addr{}, false
		}
		v, ok := parseInetPart(part)
		if !ok {
			return netip.Addr{}, false
		}
		parts[n] = v
		n++
		if !more {
			break
		}
		s = rest
	}
	var ip uint64
	for i := 0; i < n-1; i++ {
		if parts[i] > 0xff {
			return netip.Addr{}, false
		}
		ip |= parts[i] << (8 * (3 - i))
	}
	if last := parts[n-1]; last < 1<<(8*(5-n)) {
		ip |= last
		return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
	}
	return netip.Addr{}, false
}

// parseInetPart parses one part of an inet_aton address: decimal, 0x-hex
// (an empty "0x" is 0) or 0-octal, at most 32 bits.
func parseInetPart(p string) (uint64, bool) {
	base := uint64(10)
	switch {
	case p == "":
		return 0, false
	case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
		base, p = 16, p[2:]
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	var n uint64
	for i := 0; i < len(p); i++ {
		var d uint64
		switch c := p[i]; {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		if n = n*base + d; n > 0xffffffff {
			return 0, false
		}
	}
	return n, true
}
