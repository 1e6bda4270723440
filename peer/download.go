package peer

import (
	"fmt"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

// maxUnwanted is how many unrequested or duplicate blocks a peer may send
// before it is dropped.
const maxUnwanted = 256

func (t *Torrent) onPiece(c *conn, m pp.Message) error {
	b := piece.Block{Piece: int(m.Index), Begin: uint32(m.Begin), Length: uint32(len(m.Piece))}
	if t.picker == nil {
		putBlock(m.Piece)
		return c.unwanted()
	}
	res := t.picker.Received(piece.PeerID(c.id), b)
	if !res.Wanted {
		putBlock(m.Piece)
		t.wasted += int64(b.Length)
		return c.unwanted()
	}
	c.ls.lastBlockAt = time.Now()
	c.ls.received()
	c.blockReceived(b)
	t.downloaded.Add(int64(b.Length))
	t.disk.push(diskJob{block: b, data: m.Piece})
	for _, r := range res.Cancel {
		if o := t.conns[PeerID(r.Peer)]; o != nil {
			o.send(msgBlock(pp.Cancel, r.Block))
		}
	}
	if res.PieceDone {
		t.disk.push(diskJob{verify: true, blockHashes: t.picker.NeedsBlockHashes(b.Piece), block: piece.Block{Piece: b.Piece}})
	}
	t.fill(c)
	return nil
}

// unwanted counts an unrequested or duplicate block.
func (c *conn) unwanted() error {
	c.ls.unwanted++
	if c.ls.unwanted > maxUnwanted {
		return fmt.Errorf("%w: %d unrequested blocks", ErrProtocol, c.ls.unwanted)
	}
	return nil
}

func (t *Torrent) onHashed(i int, ok bool, hashes [][20]byte, err error) {
	if err != nil {
		t.fail(fmt.Errorf("verify piece %d: %w", i, err))
		return
	}
	if t.picker == nil {
		return
	}
	var senders []piece.PeerID
	if ok {
		senders = t.picker.PieceSenders(i)
	}
	charged, banned := t.picker.VerifiedBlocks(i, ok, hashes)
	if ok {
		t.pieceVerified(i)
		t.notifyVerified(i, senders)
	}
	for _, id := range banned {
		if c := t.conns[PeerID(id)]; c != nil {
			t.log.Warn("banning peer for sending bad data", "peer", c.addr)
			t.ban(c, "sent data that failed its hash")
		}
	}
	if !ok {
		t.pieceFailed(i)
		t.log.Warn("piece failed its hash", "piece", i, "senders", len(charged))
		t.fillAll()
		return
	}
	t.left.Store(t.picker.Left())
	for _, c := range t.conns {
		c.send(msgIndex(pp.Have, i))
		t.updateInterest(c)
	}
	if t.picker.Complete() {
		t.log.Info("download complete")
		select {
		case <-t.done:
		default:
			close(t.done)
		}
		t.closeSeeds()
	}
}

// notifyVerified tells the PieceObservers of the peers that sent blocks of
// verified piece i how many bytes each sent.
func (t *Torrent) notifyVerified(i int, senders []piece.PeerID) {
	byPeer := map[piece.PeerID]int64{}
	for j, s := range senders {
		byPeer[s] += int64(t.layout.Block(i, j).Length)
	}
	for id, n := range byPeer {
		c := t.conns[PeerID(id)]
		if c == nil {
			continue
		}
		for _, h := range c.ls.handlers {
			if o, ok := h.(PieceObserver); ok {
				o.PieceVerified(i, n)
			}
		}
	}
}

// closeSeeds closes connections to seeds once we are one too, except while
// an extension handler still has work in flight for the peer.
func (t *Torrent) closeSeeds() {
	if t.picker == nil || !t.picker.Complete() {
		return
	}
	for _, c := range t.conns {
		if c.ls.seed && !c.busy() {
			c.closeAfterFlush(fmt.Errorf("%w: both seeds", ErrClosed))
		}
	}
}
