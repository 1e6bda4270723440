package peer

import (
	"fmt"
	"net/netip"
)

// A peer proven to have sent bad data (or metadata that does not match
// the info hash) is banned from the torrent by address, not by address
// and port: a peer picks a new source port for each connection, and a
// new peer id costs it nothing, so a ban by either alone was evaded by
// reconnecting. The ban covers the IPv4 address, or the /64 of an IPv6
// one (what one host is given); its peer id is banned as well. Honest
// peers behind the same NAT share the ban (docs/DECISIONS.md).

// banPrefix returns what a ban of addr covers: the address itself if IPv4
// (an IPv4-mapped IPv6 address counts as its IPv4 one), its /64 if IPv6.
func banPrefix(addr netip.Addr) (netip.Prefix, bool) {
	if !addr.IsValid() {
		return netip.Prefix{}, false
	}
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, err := addr.WithZone("").Prefix(bits)
	return p, err == nil
}

// isBanned reports whether addr is within a banned address or /64.
func (t *Torrent) isBanned(addr netip.AddrPort) bool {
	p, ok := banPrefix(addr.Addr())
	return ok && t.banned[p]
}

// ban bans c's peer by address and peer id and closes its connection
// with ErrBanned and why. The addresses of the banned range the torrent
// knew to dial are forgotten, and other connections from it closed.
func (t *Torrent) ban(c *conn, why string) {
	t.bannedIDs[c.peerID] = true
	if p, ok := banPrefix(c.addr.Addr()); ok {
		t.banned[p] = true
		for a := range t.known {
			if t.isBanned(a) {
				delete(t.known, a) // one being dialed is refused when it connects
			}
		}
		for _, o := range t.conns {
			if o != c && t.isBanned(o.addr) {
				o.close(fmt.Errorf("%w: its address %v is banned", ErrBanned, p))
			}
		}
	}
	c.close(fmt.Errorf("%w: %s", ErrBanned, why))
}
