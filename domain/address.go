package domain

import (
	"context"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// nonPublic are the networks that are not the public internet: where a URL
// that Tally calls (a postback) or sends viewers to (a landing page) must not
// lead, since from inside a deployment they reach its own services, cloud
// metadata endpoints and the viewer's or operator's local network.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",         // "this network"
		"10.0.0.0/8",        // private (RFC 1918)
		"100.64.0.0/10",     // carrier-grade NAT
		"127.0.0.0/8",       // loopback
		"169.254.0.0/16",    // link-local, cloud metadata
		"172.16.0.0/12",     // private
		"192.0.0.0/24",      // IETF protocol assignments
		"192.0.2.0/24",      // documentation
		"192.168.0.0/16",    // private
		"198.18.0.0/15",     // benchmarking
		"198.51.100.0/24",   // documentation
		"203.0.113.0/24",    // documentation
		"224.0.0.0/4",       // multicast
		"240.0.0.0/4",       // reserved, broadcast
		"::/128",            // unspecified
		"::1/128",           // loopback
		"64:ff9b:1::/48",    // local-use NAT64
		"100::/64",          // discard
		"2001:db8::/32",     // documentation
		"fc00::/7",          // unique local
		"fe80::/10",         // link-local
		"ff00::/8",          // multicast
		"2002::/16",         // 6to4: embeds any IPv4 address
		"2001::/32",         // Teredo: embeds any IPv4 address
		"::ffff:0.0.0.0/96", // IPv4-mapped (checked unmapped too)
		"64:ff9b::/96",      // NAT64: embeds any IPv4 address
		"fec0::/10",         // site-local (deprecated)
		"::/96",             // IPv4-compatible (deprecated)
		"2001:10::/28",      // ORCHID
		"2001:20::/28",      // ORCHIDv2
		"3fff::/20",         // documentation
		"5f00::/16",         // segment routing SIDs
		"2001:2::/48",       // benchmarking
		"100:0:0:1::/64",    // dummy prefix
		"2620:4f:8000::/48", // AS112 (DNS sinks)
		"192.31.196.0/24",   // AS112
		"192.52.193.0/24",   // AMT
		"192.88.99.0/24",    // 6to4 relay anycast (deprecated)
		"192.175.48.0/24",   // AS112
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// PublicAddress reports whether a is an address of the public internet.
func PublicAddress(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("")
	for _, p := range nonPublic {
		if p.Contains(a) || p.Contains(a.Unmap()) {
			return false
		}
	}
	return true
}

// PublicURLs is the rule for the URLs Tally will call or send viewers to (a
// campaign's landingUrl and postbackUrl): their host must be, or resolve
// only to, public addresses. AllowPrivate turns the rule off, for tests and
// private deployments. The check is made when a URL is saved; whatever
// calls a URL later (outbound postbacks) must check the address it connects
// to again, since DNS answers change.
type PublicURLs struct {
	AllowPrivate bool
	// Lookup resolves a host name (net.DefaultResolver.LookupNetIP in
	// production).
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Check returns a BAD_USER_INPUT error on field unless raw, an already
// well-formed campaign URL, leads to public addresses only. A host that does
// not resolve is refused too: its address cannot be checked.
func (p PublicURLs) Check(ctx context.Context, field, raw string) error {
	if p.AllowPrivate {
		return nil
	}
	u, err := url.Parse(strings.ReplaceAll(raw, ClickIDMacro, "x"))
	if err != nil {
		return Invalid(field, "%s is not a valid URL", field[strings.LastIndex(field, ".")+1:])
	}
	name := field[strings.LastIndex(field, ".")+1:]
	host, a, ok := BrowserHost(u.Hostname())
	switch {
	case !ok:
		return Invalid(field, "%s: %s is not a host a browser accepts", name, u.Hostname())
	case a.IsValid():
		if PublicAddress(a) {
			return nil
		}
		if a.String() != u.Hostname() {
			return Invalid(field, "%s must lead to a public address, not %s: browsers read %s as %s", name, a, u.Hostname(), a)
		}
		return Invalid(field, "%s must lead to a public address, not %s", name, a)
	}
	if p.Lookup == nil {
		return Invalid(field, "%s: the address of %s cannot be checked", name, host)
	}
	if localName(host) {
		return Invalid(field, "%s must lead to a public host, not %s", name, host)
	}
	addrs, err := p.Lookup(ctx, host)
	if err != nil || len(addrs) == 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A public-looking name that does not resolve from here (no DNS on
		// this machine, or not yet published) is accepted: a viewer's
		// browser resolves it itself, and the postback sender checks the
		// address it dials, every time.
		return nil
	}
	for _, a := range addrs {
		if !PublicAddress(a) {
			return Invalid(field, "%s must lead to a public address; %s resolves to %s", name, host, a)
		}
	}
	return nil
}

// browserDomains maps a host name as the WHATWG URL standard's "domain to
// ASCII" does (UTS 46, non-transitional, no STD3 rules, no DNS length check):
// full-width digits and dots become ASCII ones, letters lower case.
var browserDomains = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false),
	idna.CheckHyphens(false), idna.CheckJoiners(true), idna.BidiRule(), idna.VerifyDNSLength(false))

// BrowserHost reads a URL's host as url.URL.Hostname gives it (an IPv6
// literal without its brackets) the way browsers read it, following the
// WHATWG URL standard's host parser: the name is mapped to ASCII, and a name
// that ends in a number is an IPv4 address in any of the forms browsers
// accept (127.1, 0177.0.0.1, 0x7f.0.0.1, 2130706433, 127.0.0.1.) or no
// host at all. It returns the ASCII host and, when it is an IP address, the
// address; ok is false for a host a browser refuses.
func BrowserHost(host string) (ascii string, addr netip.Addr, ok bool) {
	if strings.Contains(host, ":") { // an IPv6 literal: a name has no colon
		a, err := netip.ParseAddr(host)
		if err != nil || a.Zone() != "" || !a.Is6() {
			return host, netip.Addr{}, false
		}
		return host, a, true
	}
	ascii, err := browserDomains.ToASCII(host)
	if err != nil || ascii == "" {
		return host, netip.Addr{}, false
	}
	if !endsInNumber(ascii) {
		return ascii, netip.Addr{}, true
	}
	a, ok := parseBrowserIPv4(ascii)
	return ascii, a, ok
}

// endsInNumber is the URL standard's ends-in-a-number checker: the last
// label (a trailing dot aside) is all digits or an IPv4 number (0x…).
func endsInNumber(host string) bool {
	parts := strings.Split(host, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	_, ok := parseIPv4Number(last)
	return ok
}

// parseBrowserIPv4 is the URL standard's IPv4 parser: one to four parts,
// each a number in decimal, octal (a leading 0) or hex (0x); the last fills
// the bytes the others leave.
func parseBrowserIPv4(host string) (netip.Addr, bool) {
	parts := strings.Split(host, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var nums []uint64
	for _, part := range parts {
		n, ok := parseIPv4Number(part)
		if !ok {
			return netip.Addr{}, false
		}
		nums = append(nums, n)
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v += n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// parseIPv4Number is the URL standard's IPv4 number parser; a number past
// 32 bits is refused here (every caller would refuse it).
func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseUint(s, base, 32)
	return n, err == nil
}

// localName reports a host name that can only ever be local or is reserved
// never to resolve: one label (an intranet name), or a special-use suffix
// (RFC 6761, RFC 8375, and the common private ones).
func localName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if !strings.Contains(h, ".") {
		return true
	}
	for _, suffix := range []string{".localhost", ".local", ".invalid", ".test", ".internal", ".home.arpa", ".lan", ".corp", ".intranet"} {
		if strings.HasSuffix(h, suffix) {
			return true
		}
	}
	return false
}
