package peer

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// The DHT's side of the peer wire (BEP 5): with Config.DHT set we set the
// DHT bit of the handshake's reserved bytes, send our node's port in a
// PORT message to every peer that sets it too, and ping the node a peer's
// PORT names, so the node joins our routing table if it answers.

// ourExtensions are the reserved bits of our handshakes.
func (cl *Client) ourExtensions() pp.PeerExtensionBits {
	b := ourExtensions(!cl.cfg.DisableFast)
	if cl.cfg.DHT != nil {
		b.SetBit(pp.ExtensionBitDht, true)
	}
	return b
}

// infoHashes lists the torrents the client serves (for MSE's SKEY lookup).
func (cl *Client) infoHashes() []metainfo.Hash {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	hs := make([]metainfo.Hash, 0, len(cl.torrents))
	for ih := range cl.torrents {
		hs = append(hs, ih)
	}
	for ih := range cl.v2alias {
		hs = append(hs, ih)
	}
	return slices.Clip(hs)
}

// sendDHTPort sends our DHT node's port to a peer whose handshake says it
// runs a DHT node too, unless the torrent is private.
func (t *Torrent) sendDHTPort(c *conn, hs handshakeResult) {
	d := t.cl.cfg.DHT
	if d == nil || !hs.ext.GetBit(pp.ExtensionBitDht) || t.private() {
		return
	}
	if port := d.Addr().Port(); port != 0 {
		b := appendHeader(make([]byte, 0, 7), 3, pp.Port)
		c.send(binary.BigEndian.AppendUint16(b, port))
	}
}

// onPort honours a peer's PORT message: its node is pinged, and joins our
// routing table if it answers (DHT.AddNode bounds the pings and skips
// repeats). Nothing for a private torrent or without a DHT.
func (t *Torrent) onPort(c *conn, port uint16) {
	d := t.cl.cfg.DHT
	if d == nil || port == 0 || t.private() {
		return
	}
	d.AddNode(netip.AddrPortFrom(c.addr.Addr(), port))
}
