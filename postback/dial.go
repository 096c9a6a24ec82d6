package postback

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// errNotPublic is a target that resolved to an address postbacks may not
// reach.
var errNotPublic = errors.New("the target's address is not public")

// nonPublic are the ranges refused besides those netip names: "this
// network", carrier-grade NAT and the limited broadcast address.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("255.255.255.255/32"),
}

// Public reports whether a postback may connect to ip: not loopback,
// private, link-local, unspecified or multicast (IPv4-mapped IPv6 addresses
// are judged as the IPv4 address they carry).
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// publicOnly is the dialer's Control hook: it runs for each address the
// dialer is about to connect to, after name resolution, so the address
// checked is the address used and a DNS answer that changes between a check
// and the connection (rebinding) cannot get past it.
func publicOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return errNotPublic
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !Public(ip) {
		return errNotPublic
	}
	return nil
}
