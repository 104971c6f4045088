package policy

import (
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// nat64 is the well-known NAT64 prefix: 64:ff9b::a.b.c.d reaches a.b.c.d.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// MetadataAddressIn returns the first metadata address written in s, in any
// encoding an HTTP client or resolver accepts (dotted, decimal, hex, octal,
// short forms, any number of leading zeros, IPv4-mapped or NAT64 IPv6,
// brackets, zones, percent-encoding, URLs, Unicode look-alikes that IDNA
// maps to ASCII), or a metadata hostname. It returns "" when there is none.
func (o *Options) MetadataAddressIn(s string) string {
	if s == "" {
		return ""
	}
	s = NormalizeHost(s)
	lower := strings.ToLower(s)
	for _, h := range o.MetadataHostnames {
		if strings.Contains(lower, h) {
			return h
		}
	}
	if strings.Contains(s, "%") {
		if u := percentDecode(s); u != s {
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
	for tok, i := nextToken(s, 0); tok != ""; tok, i = nextToken(s, i) {
		if found := o.metadataToken(tok); found != "" {
			return found
		}
	}
	return ""
}

// nextToken returns the token of s at or after i and the index after it, or
// "" at the end: the tokens of strings.FieldsFunc(s, isAddressSeparator),
// split on bytes without decoding runes (a byte of a multi-byte rune, read
// as a rune, is not ASCII and so a separator, as the whole rune is).
func nextToken(s string, i int) (string, int) {
	for i < len(s) && isSeparatorByte(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSeparatorByte(s[j]) {
		j++
	}
	return s[i:j], j
}

func isSeparatorByte(c byte) bool { return isAddressSeparator(rune(c)) }

// NormalizeHost maps s the way IDNA (UTS 46) maps a host name before it is
// resolved: compatibility forms to ASCII (NFKC: full-width digits and
// letters, circled, super- and subscript and mathematical digits),
// ideographic full stops to ".", and the characters UTS 46 ignores (soft
// hyphen, zero-width space and joiners, variation selectors, byte-order
// mark) dropped. ASCII text is returned as is, without allocating.
func NormalizeHost(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	s = strings.Map(mapIDNA, s)
	return strings.Map(mapIDNA, norm.NFKC.String(s))
}

// mapIDNA drops a rune UTS 46 ignores and maps label separators to ".".
func mapIDNA(r rune) rune {
	switch {
	case r == 0x3002, r == 0xFF0E, r == 0xFF61: // ideographic, full-width and half-width full stops
		return '.'
	case r == 0x00AD, r == 0x034F, r == 0x061C, r >= 0x180B && r <= 0x180F, r >= 0x200B && r <= 0x200F,
		r >= 0x202A && r <= 0x202E, r >= 0x2060 && r <= 0x206F, r >= 0xFE00 && r <= 0xFE0F, r == 0xFEFF,
		r >= 0x1BCA0 && r <= 0x1BCA3, r >= 0xE0000 && r <= 0xE0FFF:
		return -1 // ignored by UTS 46, or invisible formatting a resolver never sees
	}
	return r
}

// percentDecode decodes every valid %XX escape and keeps any other "%" as
// it is, so that one stray "%" in a command line does not stop the decoding
// of the rest (url.PathUnescape gives up on the whole string).
func percentDecode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
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
// bracketed IPv6 address with or without a port, or an address with a zone;
// trailing dots and colons of prose ("see 169.254.169.254.") are tried both
// kept and cut. There is no length limit: any number of leading zeros in a
// hex or octal part still resolves.
func (o *Options) metadataToken(tok string) string {
	if !mayBeAddress(tok) {
		return ""
	}
	trimmed := strings.TrimRight(tok, ".:")
	candidates := [5]string{tok, trimmed}
	if i := strings.IndexByte(tok, '%'); i > 0 && strings.Count(tok[:i], ":") >= 2 {
		// An IPv6 zone names the interface, not the address; whatever
		// follows the "%" (even nothing) does not change where it goes.
		candidates[4] = strings.TrimPrefix(tok[:i], "[")
	}
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

// mayBeAddress reports whether tok can hold an address ParseHostAddr reads:
// IPv6 needs two colons, and every inet_aton form a digit. Each candidate
// metadataToken tries is a part of tok, so a token with neither is skipped.
func mayBeAddress(tok string) bool {
	colons := 0
	for i := 0; i < len(tok); i++ {
		switch c := tok[i]; {
		case c >= '0' && c <= '9':
			return true
		case c == ':':
			if colons++; colons == 2 {
				return true
			}
		}
	}
	return false
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
