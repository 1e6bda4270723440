package peer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Where a web seed may connect. A web seed URL from a .torrent's url-list
// or a magnet link's ws= is a stranger's: fetched as is, it would make the
// client send GETs of the stranger's choosing, for the torrent's life, to
// hosts on its own side of the network (loopback services, the cloud
// metadata endpoint at 169.254.169.254, the LAN's routers). So unless
// WebSeedConfig.AllowPrivate is set, a web seed connects to public
// addresses only. The check runs in the dialer, on the address actually
// dialed: it holds for every name the URL's host resolves to (DNS
// rebinding included) and for every redirect. A URL whose host is a
// non-public address or localhost, literally, is refused before that.

// ErrWebSeedPrivate reports a web seed whose host is, or resolves to, a
// loopback, private, link-local or otherwise non-public address, without
// WebSeedConfig.AllowPrivate.
var ErrWebSeedPrivate = errors.New("peer: web seed at a non-public address")

// allowPrivateWebSeeds lets every web seed, the torrent's included, reach
// non-public addresses: for tests, whose servers are on loopback.
var allowPrivateWebSeeds atomic.Bool

// nonPublic lists the IPv4 ranges, besides those netip's methods name,
// that are no host on the internet: "this network" (0/8, which Linux
// routes to the host itself), carrier-grade NAT, IETF protocol
// assignments, benchmarking, and the reserved 240/4.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// Prefixes of IPv6 addresses that carry an IPv4 address: NAT64's
// well-known prefix (the address in the last 4 bytes) and 6to4 (in bytes
// 2 to 5). They are as public as the address they carry.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// publicAddr reports whether a is a public unicast address: not loopback,
// private (RFC 1918, IPv6 ULA fc00::/7), link-local, unspecified,
// multicast, broadcast, CGNAT or reserved.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	if a.Is4() {
		for _, p := range nonPublic {
			if p.Contains(a) {
				return false
			}
		}
		return true
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return publicAddr(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return publicAddr(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return true
}

// checkWebSeedHost refuses a URL whose host is literally a non-public
// address or localhost (RFC 6761: localhost and its subdomains). A name
// is checked by the dialer, once resolved.
func checkWebSeedHost(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadWebSeed, err)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: %s", ErrWebSeedPrivate, host)
	}
	if a, err := netip.ParseAddr(host); err == nil && !publicAddr(a) {
		return fmt.Errorf("%w: %s", ErrWebSeedPrivate, a)
	}
	return nil
}

// dialControl returns a net.Dialer's Control that refuses to connect
// where allowed says no: it sees the resolved address of every
// connection.
func dialControl(allowed func(netip.AddrPort) bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: cannot check %s address %q", ErrWebSeedPrivate, network, address)
		}
		if !allowed(ap) {
			return fmt.Errorf("%w: %s", ErrWebSeedPrivate, ap.Addr())
		}
		return nil
	}
}

// webSeedDialer returns the dialer of a web seed's own transport: with
// allowed nil, any address.
func webSeedDialer(allowed func(netip.AddrPort) bool) *net.Dialer {
	d := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	if allowed != nil {
		d.Control = dialControl(allowed)
	}
	return d
}

func publicAddrPort(ap netip.AddrPort) bool { return publicAddr(ap.Addr()) }
