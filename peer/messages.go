package peer

import (
	"fmt"
	"math/bits"
	"slices"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/piece"
)

// rejectBackoff is how long we wait before asking a peer that rejected a
// request for more (the tick asks again).
const rejectBackoff = 20 * time.Millisecond

// maxUnwanted is how many unrequested or duplicate blocks a peer may send
// before it is dropped.
const maxUnwanted = 256

// onMessage handles one message from a peer in the loop. An error closes
// the connection.
func (t *Torrent) onMessage(c *conn, m pp.Message) error {
	ls := &c.ls
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
		// DHT port (BEP 5): the DHT finds peers itself.
	default:
		return fmt.Errorf("%w: unexpected message type %v", ErrProtocol, m.Type)
	}
	return nil
}

func (t *Torrent) onHave(c *conn, i int) error {
	if t.picker == nil {
		return c.ls.early.set(i)
	}
	if i < 0 || i >= t.layout.NumPieces() {
		return fmt.Errorf("%w: have %d of %d pieces", ErrProtocol, i, t.layout.NumPieces())
	}
	if t.picker.PeerHas(piece.PeerID(c.id), i) {
		return nil // said before: a repeat must not make the peer look like a seed
	}
	t.picker.PeerHave(piece.PeerID(c.id), i)
	c.ls.have++
	c.ls.seed = c.ls.have == t.layout.NumPieces()
	t.updateInterest(c)
	t.fill(c)
	return nil
}

// maxEarlyPieces is the most pieces a torrent can have whose info we do
// not know yet: its info holds 20 bytes of hash per piece and is at most
// maxMetadataSize long.
const maxEarlyPieces = maxMetadataSize / 20

// earlyBitfield records what a peer has before we know how many pieces
// there are: a bitfield that grows to the highest piece named, at most
// maxEarlyPieces (100 KiB).
type earlyBitfield []uint64

func (e *earlyBitfield) set(i int) error {
	if i < 0 || i >= maxEarlyPieces {
		return fmt.Errorf("%w: have %d: more pieces than an info of %d bytes holds", ErrProtocol, i, maxMetadataSize)
	}
	for len(*e) <= i/64 {
		*e = append(*e, 0)
	}
	(*e)[i/64] |= 1 << (i % 64)
	return nil
}

func (e earlyBitfield) each(f func(i int)) {
	for wi, w := range e {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			f(wi*64 + b)
			w &= w - 1
		}
	}
}

// setEarly records a wire bitfield (as the decoder's bools) received
// before the info.
func (c *conn) setEarly(bools []bool) error {
	for i, v := range bools {
		if v {
			if err := c.ls.early.set(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// onBitfield records a peer's bitfield (all is have-all).
func (t *Torrent) onBitfield(c *conn, bools []bool, all bool) error {
	if t.picker == nil {
		if all {
			c.ls.haveAll = true
		}
		return c.setEarly(bools)
	}
	n := t.layout.NumPieces()
	var bf piece.Bitfield
	if all {
		bf = piece.NewBitfield(n)
		bf.SetAll()
	} else if bools != nil {
		var err error
		bf, err = bitfieldFromBools(bools, n)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
	} else {
		bf = piece.NewBitfield(n)
	}
	return t.addPeerBitfield(c, bf)
}

// addPeerBitfield records what a peer has.
func (t *Torrent) addPeerBitfield(c *conn, bf piece.Bitfield) error {
	n := t.layout.NumPieces()
	t.picker.AddPeer(piece.PeerID(c.id), bf)
	c.ls.have = bf.Count()
	c.ls.seed = c.ls.have == n
	if c.ls.seed && t.picker.Complete() && !c.busy() {
		return fmt.Errorf("%w: both seeds", ErrClosed)
	}
	t.updateInterest(c)
	t.fill(c)
	return nil
}

// onLateBitfield applies a bitfield that came after other messages as a
// series of haves: it can add pieces, never take them away.
func (t *Torrent) onLateBitfield(c *conn, bools []bool) error {
	if t.picker == nil {
		return c.setEarly(bools)
	}
	bf, err := bitfieldFromBools(bools, t.layout.NumPieces())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	var herr error
	bf.Each(func(i int) {
		if herr == nil && !t.picker.PeerHas(piece.PeerID(c.id), i) {
			herr = t.onHave(c, i)
		}
	})
	return herr
}

func (t *Torrent) onRequest(c *conn, b piece.Block) error {
	reject := func() {
		if c.fast {
			c.send(msgBlock(pp.Reject, b))
		}
	}
	if t.picker == nil || !t.layout.InRange(b) {
		if t.picker != nil && !t.layout.InRange(b) {
			return fmt.Errorf("%w: request out of range: %+v", ErrProtocol, b)
		}
		reject()
		return nil
	}
	if !t.picker.HasPiece(b.Piece) {
		reject()
		return nil
	}
	if c.ls.amChoking && !c.ls.allowedFast[b.Piece] {
		reject() // without BEP 6, a choked peer's request is dropped
		return nil
	}
	limit := t.cl.cfg.MaxQueuedRequests - len(c.ls.held)
	v := Hold
	if len(c.ls.held) == 0 {
		v = c.mayServe(b)
	}
	if v == Hold {
		// Held back (or behind others held back): keep it, in order,
		// until the gate allows it.
		if c.queued()+len(c.ls.held) >= t.cl.cfg.MaxQueuedRequests {
			if !c.fast {
				return ErrTooManyRequests
			}
			reject()
			return nil
		}
		c.ls.held = append(c.ls.held, b)
		return nil
	}
	if !c.serve(b, v == ServeFree, limit) {
		if !c.fast {
			return ErrTooManyRequests
		}
		reject()
	}
	return nil
}

// mayServe asks the peer's serve gates whether block b may be queued now:
// Hold if any holds it, else ServeFree if any passes it free, else Serve.
func (c *conn) mayServe(b piece.Block) Verdict {
	v := Serve
	for _, h := range c.ls.handlers {
		if g, ok := h.(ServeGate); ok {
			switch g.MayServe(b) {
			case Hold:
				return Hold
			case ServeFree:
				v = ServeFree
			}
		}
	}
	return v
}

// serveHeld queues the held requests the gates now allow, in order.
func (t *Torrent) serveHeld(c *conn) {
	n := 0
	for _, b := range c.ls.held {
		if c.ls.amChoking && !c.ls.allowedFast[b.Piece] {
			break
		}
		v := c.mayServe(b)
		if v == Hold {
			break
		}
		if !c.serve(b, v == ServeFree, t.cl.cfg.MaxQueuedRequests) {
			break
		}
		n++
	}
	c.ls.held = slices.Delete(c.ls.held, 0, n)
}

// unhold removes held requests: the one block b, or all if all is set. It
// returns the blocks removed.
func (c *conn) unhold(b piece.Block, all bool) []piece.Block {
	var out []piece.Block
	c.ls.held = slices.DeleteFunc(c.ls.held, func(h piece.Block) bool {
		if all || h == b {
			out = append(out, h)
			return true
		}
		return false
	})
	return out
}

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

// unsettled reports whether a handler of the connection has work its peer
// is owed (Settler).
func (c *conn) unsettled() bool {
	for _, h := range c.ls.handlers {
		if s, ok := h.(Settler); ok && s.Unsettled() {
			return true
		}
	}
	return false
}

func (c *conn) busy() bool {
	for _, h := range c.ls.handlers {
		if b, ok := h.(Busy); ok && b.Busy() {
			return true
		}
	}
	return false
}

func (t *Torrent) updateInterest(c *conn) {
	want := t.picker != nil && t.picker.Interesting(piece.PeerID(c.id))
	if want == c.ls.amInterested {
		return
	}
	c.ls.amInterested = want
	if want {
		c.send(msgSimple(pp.Interested))
	} else {
		c.send(msgSimple(pp.NotInterested))
	}
}

// minPipeline is the fewest requests kept in flight to a peer.
const minPipeline = 64

// pipeline is how many requests to keep in flight to the peer, at most
// limit and at most the queue depth the peer advertised (reqq): two seconds of its last second's rate, once a whole second has
// been measured, and before that a slow start that grows by one with each
// block received, so that the pipeline doubles each round trip as TCP's
// window does. Without it a fast peer ran its first second at 64 requests
// (1 MiB), which makes a transfer's speed hang on each block's latency; on
// loopback under BBR that latency depends on a pacing rate the connection
// happened to learn early (docs/DECISIONS.md, session 12).
func (ls *loopPeer) pipeline(limit int) int {
	if ls.reqq > 0 {
		limit = min(limit, ls.reqq)
	}
	target := max(minPipeline, int(2*ls.lastSecondDown/piece.BlockSize))
	if ls.ticks < 2 {
		target = max(target, ls.slowStart)
	}
	return min(target, limit)
}

// received counts a wanted block towards the slow start.
func (ls *loopPeer) received() {
	if ls.ticks < 2 {
		ls.slowStart = max(ls.slowStart, minPipeline) + 1
	}
}

// fill tops up the requests in flight to a peer.
func (t *Torrent) fill(c *conn) {
	ls := &c.ls
	if t.picker == nil || ls.peerChoking || !ls.amInterested || t.disk.full() {
		return
	}
	if !ls.rejectedAt.IsZero() && time.Since(ls.rejectedAt) < rejectBackoff {
		return
	}
	target := ls.pipeline(t.cl.cfg.MaxRequestsPerPeer)
	id := piece.PeerID(c.id)
	n := target - t.picker.InFlight(id)
	if n < target/4 && t.picker.InFlight(id) > 0 {
		return // refill in batches
	}
	t.reqBuf = t.picker.Pick(id, n, time.Now(), t.reqBuf[:0])
	if len(t.reqBuf) == 0 {
		return
	}
	raw := make([]byte, 0, 17*len(t.reqBuf))
	for _, b := range t.reqBuf {
		raw = append(raw, msgBlock(pp.Request, b)...)
	}
	c.send(raw)
}

func (t *Torrent) fillAll() {
	for _, c := range t.conns {
		t.fill(c)
	}
}

// rechoke runs the choking policy and applies its decision.
func (t *Torrent) rechoke(now time.Time) {
	t.rechokeDue = false
	t.prevChoke, t.lastChoke = t.lastChoke, now
	ids := make([]PeerID, 0, len(t.conns))
	for id := range t.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	snap := choker.Snapshot{Seeding: t.picker != nil && t.picker.Complete(), Size: t.layout.Length}
	for _, id := range ids {
		c := t.conns[id]
		up, down := c.ls.rates(now)
		ps := choker.PeerStat{
			ID:           id,
			Interested:   c.ls.peerInterested,
			AmInterested: c.ls.amInterested,
			Choked:       c.ls.amChoking,
			DownRate:     down,
			UpRate:       up,
			Downloaded:   c.downloaded.Load(),
			Uploaded:     c.uploaded.Load(),
			ConnectedAt:  c.ls.connectedAt,
			LastBlockAt:  c.ls.lastBlockAt,
			Seed:         c.ls.seed,
		}
		if t.picker != nil && t.layout.NumPieces() > 0 {
			ps.Have = int64(c.ls.have) * t.layout.PieceLength
		}
		for _, h := range c.ls.handlers {
			if s, ok := h.(ChokeStatter); ok {
				s.ChokeStat(&ps)
			}
		}
		snap.Peers = append(snap.Peers, ps)
	}
	d := t.policy.Rechoke(now, snap)
	for _, o := range d.Outcomes {
		c := t.conns[o.ID]
		if c == nil {
			continue
		}
		for _, h := range c.ls.handlers {
			if s, ok := h.(ChokeStatter); ok {
				s.Decided(o, d.ClearingPrice)
			}
		}
		switch {
		case o.Unchoke && c.ls.amChoking:
			c.ls.amChoking = false
			c.send(msgSimple(pp.Unchoke))
		case !o.Unchoke && !c.ls.amChoking:
			c.ls.amChoking = true
			c.send(msgSimple(pp.Choke))
			held := c.ls.held
			c.ls.held = nil
			for _, b := range held {
				if c.fast && c.ls.allowedFast[b.Piece] {
					c.ls.held = append(c.ls.held, b) // still allowed, still gated
				} else if c.fast {
					c.send(msgBlock(pp.Reject, b))
				}
			}
			for _, it := range c.unserve(piece.Block{}, true) {
				if c.fast && !c.ls.allowedFast[it.block.Piece] {
					c.send(msgBlock(pp.Reject, it.block))
				} else if c.fast {
					c.serve(it.block, it.free, t.cl.cfg.MaxQueuedRequests)
				}
			}
		}
	}
}
