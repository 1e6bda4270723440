package peer

import (
	"encoding/binary"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

// BEP 52 hash messages. We answer hash requests for a pure v2 torrent's
// piece layers (what a v2 peer that came by magnet needs before it can
// verify a piece), and refuse the others with a hash reject. We send no
// hash requests: a pure v2 torrent is added from its .torrent (see
// v2Hashes), so hashes and hash rejects from a peer answer nothing of
// ours and count as unwanted messages.

// hashRequestOf returns the request a hash message carries.
func hashRequestOf(m pp.Message) piece.HashRequest {
	return piece.HashRequest{
		Root:        m.PiecesRoot,
		BaseLayer:   uint32(m.BaseLayer),
		Index:       uint32(m.Index),
		Length:      uint32(m.Length),
		ProofLayers: uint32(m.ProofLayers),
	}
}

// msgHash encodes a hash request, hashes or hash reject message.
func msgHash(t pp.MessageType, r piece.HashRequest, hashes [][32]byte) []byte {
	n := 1 + 32 + 16 + 32*len(hashes)
	b := appendHeader(make([]byte, 0, 4+n), uint32(n), t)
	b = append(b, r.Root[:]...)
	for _, x := range []uint32{r.BaseLayer, r.Index, r.Length, r.ProofLayers} {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	for _, h := range hashes {
		b = append(b, h[:]...)
	}
	return b
}

// onHashMessage handles the BEP 52 hash messages. Loop state.
func (t *Torrent) onHashMessage(c *conn, m pp.Message) error {
	if m.Type != pp.HashRequest {
		return c.unwanted()
	}
	req := hashRequestOf(m)
	if c.queuedMessageBytes() > maxQueuedBytes/2 {
		c.send(msgHash(pp.HashReject, req, nil)) // answer later requests
		return nil
	}
	var v2 *piece.V2Hashes
	if t.disk != nil {
		v2 = t.disk.v2
	}
	if v2 == nil {
		c.send(msgHash(pp.HashReject, req, nil))
		return nil
	}
	hashes, err := v2.Answer(req)
	if err != nil {
		t.log.Debug("hash request refused", "peer", c.addr, "err", err)
		c.send(msgHash(pp.HashReject, req, nil))
		return nil
	}
	c.send(msgHash(pp.Hashes, req, hashes))
	return nil
}
