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
