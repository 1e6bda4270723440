package peer

import (
	"net/netip"
	"time"
)

// SetMinEvictAge sets how long a peer must idle before a newcomer may
// replace it in a full torrent (tests shorten it).
func SetMinEvictAge(c *Config, d time.Duration) { c.minEvictAge = d }

// KnownPeers returns how many addresses the torrent keeps to dial.
func (t *Torrent) KnownPeers() (n int) {
	_ = t.do(t.ctx, func() { n = len(t.known) })
	return n
}

// MaxKnownPeers is maxKnownPeers, for tests.
const MaxKnownPeers = maxKnownPeers

// Knows reports whether the torrent keeps addr to dial.
func (t *Torrent) Knows(addr netip.AddrPort) (ok bool) {
	_ = t.do(t.ctx, func() { ok = t.known[addr] != nil })
	return ok
}
