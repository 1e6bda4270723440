package peer

import (
	"encoding/binary"
	"fmt"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

// BEP 52 hash messages. We answer hash requests for a pure v2 torrent's
// piece layers (what a v2 peer that came by magnet needs before it can
// verify a piece), and refuse the others with a hash reject. While some
// of our own layers are missing (a magnet), every peer that speaks to us
// is sent requests for them, once; hashes that prove out to their file's
// root are installed and their pieces become wanted, and a peer we asked
// whose hashes do not prove out is dropped. Hashes nobody asked for, and
// hash rejects, count as unwanted messages.

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
	if m.Type == pp.Hashes && t.disk != nil && t.disk.asked[c] {
		return t.onHashes(c, hashRequestOf(m), m.Hashes)
	}
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

// askHashes sends c requests for the piece layers we lack, if we lack any
// and have not asked it yet. Loop state.
func (t *Torrent) askHashes(c *conn) {
	if t.disk == nil || t.disk.asked == nil || t.disk.asked[c] {
		return
	}
	for o := range t.disk.asked {
		select {
		case <-o.closed:
			delete(t.disk.asked, o) // the set holds live peers only
		default:
		}
	}
	t.disk.asked[c] = true
	v2 := t.disk.v2
	for k := range v2.Files() {
		if v2.LayerKnown(k) {
			continue
		}
		for _, r := range v2.LayerRequests(k) {
			c.send(msgHash(pp.HashRequest, r, nil))
		}
	}
}

// onHashes installs the hashes c sent in answer to our request; hashes
// that do not prove out to their file's root drop the peer. Loop state.
func (t *Torrent) onHashes(c *conn, req piece.HashRequest, hashes [][32]byte) error {
	v2 := t.disk.v2
	k := v2.FileOf(req.Root)
	if k >= 0 && v2.LayerKnown(k) {
		return nil // another peer's answer came first
	}
	n, err := v2.Accept(req, hashes)
	if err != nil {
		return fmt.Errorf("%w: hashes: %w", ErrProtocol, err)
	}
	if n > 0 {
		f := v2.Files()[k]
		lo := int64(f.FirstPiece) * t.layout.PieceLength
		t.applyFiles(lo, lo+int64(f.NumPieces)*t.layout.PieceLength)
	}
	if v2.Complete() {
		t.disk.asked = nil
		t.log.Debug("piece layers complete")
	}
	return nil
}
