package peer

import (
	"encoding/binary"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

// BEP 52 hash messages. We answer hash requests for a pure v2 torrent's
// piece layers (what a v2 peer that came by magnet needs before it can
// verify a piece), and refuse the others with a hash reject. While some
// of our own layers are missing (a magnet), every peer that speaks to us
// is asked for them (hashes_ask.go), at most hashWindow requests at a time;
// hashes that prove out to their file's root are installed and their
// pieces become wanted, and a peer whose hashes do not prove out is
// dropped. A hash reject answering one of our requests is the answer of a
// peer that lacks the layer too (another magnet leecher): that peer is not
// asked for it again, the others are. Hashes and hash rejects that answer
// no request of ours outstanding with that peer count as unwanted
// messages.

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
		return t.onHashAnswer(c, m)
	}
	req := hashRequestOf(m)
	if c.queuedMessageBytes() > maxQueuedBytes/2 {
		c.send(msgHash(pp.HashReject, req, nil)) // answer later requests
		return nil
	}
	var v2 *piece.V2Hashes
	if t.disk != nil {
		v2 = t.disk.served
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
