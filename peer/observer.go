package peer

import "github.com/bttspeed/bttspeed/piece"

// BlockObserver is implemented by handlers that want to know, as it
// arrives, each block their peer sent that we take (we asked this peer for
// it, and no one sent it first), and each piece whose hash check failed:
// btt_speed prices each block at the terms in force when it came, and
// forgets what it priced of a piece that failed, which is fetched again.
// Both are called on the torrent's loop; BlockReceived before the piece
// the block completes is hashed, so before PieceVerified.
type BlockObserver interface {
	BlockReceived(b piece.Block)
	PieceFailed(piece int)
}

// blockReceived tells c's BlockObservers of block b, which we take.
func (c *conn) blockReceived(b piece.Block) {
	for _, h := range c.ls.handlers {
		if o, ok := h.(BlockObserver); ok {
			o.BlockReceived(b)
		}
	}
}

// pieceFailed tells every BlockObserver that piece i failed its hash.
func (t *Torrent) pieceFailed(i int) {
	for _, c := range t.conns {
		for _, h := range c.ls.handlers {
			if o, ok := h.(BlockObserver); ok {
				o.PieceFailed(i)
			}
		}
	}
}

// PeerIDs is implemented by every ExtPeer the engine hands an extension:
// the BitTorrent peer ids of the connection's two ends, as their
// handshakes said. btt_speed binds its channel proofs to them.
type PeerIDs interface {
	// PeerID is the remote peer's id; LocalPeerID ours.
	PeerID() [20]byte
	LocalPeerID() [20]byte
}

var _ PeerIDs = extPeer{}

func (p extPeer) PeerID() [20]byte      { return p.c.peerID }
func (p extPeer) LocalPeerID() [20]byte { return p.c.t.cl.peerID }

// MarkedSender is implemented by every ExtPeer the engine hands an
// extension. SendMarked sends a message of the extension that keeps its
// place among the blocks queued to the peer — it does not go ahead of
// them as other messages do — and calls written, on the connection's
// writer goroutine (it must not block), once it is written, with Uploaded
// and UploadedFree then: they count every block before it on the wire and
// none after. btt_speed sends its awards and rejects this way, so that
// buyer and seller split the stream of blocks between two prices, or a
// free and a paid slot, at the same byte.
type MarkedSender interface {
	SendMarked(payload []byte, written func(uploaded, uploadedFree int64))
}

var _ MarkedSender = extPeer{}

func (p extPeer) SendMarked(payload []byte, written func(uploaded, uploadedFree int64)) {
	p.c.sendMarked(msgExtended(p.id, payload), written)
}
