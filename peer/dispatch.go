package peer

import (
	"fmt"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

// onMessage handles one message from a peer in the loop. An error closes
// the connection.
func (t *Torrent) onMessage(c *conn, m pp.Message) error {
	ls := &c.ls
	t.askHashes(c)
	first := !ls.gotBitfield
	if m.Type != pp.Extended && m.Type != pp.Port {
		ls.gotBitfield = true // later bitfields are a violation
	}
	switch m.Type {
	case pp.Choke:
		ls.peerChoking = true
		if !c.fast && t.picker != nil {
			t.picker.Abandon(piece.PeerID(c.id))
			t.fillAll()
		}
	case pp.Unchoke:
		ls.peerChoking = false
		t.fill(c)
	case pp.Interested:
		if !ls.peerInterested {
			ls.peerInterested = true
			t.rechokeDue = true
		}
	case pp.NotInterested:
		ls.peerInterested = false
	case pp.Have:
		return t.onHave(c, int(m.Index))
	case pp.Bitfield:
		if !first {
			// BEP 3 wants the bitfield first, but aria2, for one,
			// sends one later: take it as haves.
			return t.onLateBitfield(c, m.Bitfield)
		}
		return t.onBitfield(c, m.Bitfield, false)
	case pp.HaveAll, pp.HaveNone:
		if !c.fast {
			return fmt.Errorf("%w: %v without the fast extension", ErrProtocol, m.Type)
		}
		if !first {
			if m.Type == pp.HaveAll && t.picker != nil {
				all := make([]bool, (t.layout.NumPieces()+7)/8*8)
				for i := 0; i < t.layout.NumPieces(); i++ {
					all[i] = true
				}
				return t.onLateBitfield(c, all)
			}
			return nil
		}
		ls.haveAll = m.Type == pp.HaveAll
		return t.onBitfield(c, nil, m.Type == pp.HaveAll)
	case pp.Request:
		return t.onRequest(c, piece.Block{Piece: int(m.Index), Begin: uint32(m.Begin), Length: uint32(m.Length)})
	case pp.Cancel:
		b := piece.Block{Piece: int(m.Index), Begin: uint32(m.Begin), Length: uint32(m.Length)}
		if removed := len(c.unserve(b, false)) + len(c.unhold(b, false)); removed > 0 && c.fast {
			c.send(msgBlock(pp.Reject, b))
		}
	case pp.Piece:
		if t.disk != nil && c.disk.Load() == nil {
			c.disk.Store(t.disk)
		}
		return t.onPiece(c, m)
	case pp.Reject:
		if !c.fast {
			return fmt.Errorf("%w: reject without the fast extension", ErrProtocol)
		}
		if t.picker != nil {
			t.picker.Rejected(piece.PeerID(c.id), piece.Block{Piece: int(m.Index), Begin: uint32(m.Begin), Length: uint32(m.Length)})
			// Back off this peer briefly rather than ask again at once,
			// then ask again.
			c.ls.rejectedAt = time.Now()
			if !t.refillSet && t.refill != nil {
				t.refillSet = true
				t.refill.Reset(rejectBackoff)
			}
			t.fillAll()
		}
	case pp.AllowedFast, pp.Suggest:
		if !c.fast {
			return fmt.Errorf("%w: %v without the fast extension", ErrProtocol, m.Type)
		}
		// We do not request while choked, so these are only noted.
	case pp.Extended:
		return t.onExtended(c, m.ExtendedID, m.ExtendedPayload)
	case pp.Port:
		t.onPort(c, m.Port)
	case pp.HashRequest, pp.Hashes, pp.HashReject:
		return t.onHashMessage(c, m)
	default:
		return fmt.Errorf("%w: unexpected message type %v", ErrProtocol, m.Type)
	}
	return nil
}
