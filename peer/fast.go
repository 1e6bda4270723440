package peer

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// allowedFastCount is how many allowed-fast pieces we grant (BEP 6).
const allowedFastCount = 10

// allowedFastSet is BEP 6's canonical allowed-fast set for a peer's IPv4
// address; it is empty for IPv6 peers.
func allowedFastSet(ip netip.Addr, ih metainfo.Hash, numPieces, k int) []int {
	ip = ip.Unmap()
	if !ip.Is4() || numPieces == 0 {
		return nil
	}
	k = min(k, numPieces)
	a := ip.As4()
	x := make([]byte, 0, 24)
	x = append(x, a[0], a[1], a[2], 0)
	x = append(x, ih[:]...)
	var set []int
	for len(set) < k {
		h := sha1.Sum(x)
		x = h[:]
		for i := 0; i < 5 && len(set) < k; i++ {
			y := binary.BigEndian.Uint32(h[4*i:])
			if idx := int(y % uint32(numPieces)); !slices.Contains(set, idx) {
				set = append(set, idx)
			}
		}
	}
	return set
}

// sendHaves tells a new peer what we have.
func (t *Torrent) sendHaves(c *conn) {
	if t.picker == nil {
		if c.fast {
			c.send(msgSimple(pp.HaveNone))
		}
		return
	}
	have := t.picker.Have()
	switch {
	case c.fast && have.All():
		c.send(msgSimple(pp.HaveAll))
	case c.fast && have.None():
		c.send(msgSimple(pp.HaveNone))
	case !have.None():
		c.send(msgBitfield(have))
	}
	if c.fast {
		c.ls.allowedFast = make(map[int]bool)
		for _, i := range allowedFastSet(c.addr.Addr(), t.ih, t.layout.NumPieces(), allowedFastCount) {
			c.ls.allowedFast[i] = true
			c.send(msgIndex(pp.AllowedFast, i))
		}
	}
}
