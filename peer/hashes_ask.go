package peer

import (
	"fmt"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

// hashWindow is the most hash requests outstanding with one peer: the
// next go out as it answers. However many layers are missing (a pure v2
// torrent of tens of thousands of files), a peer's send queue holds at
// most hashWindow requests of ours (53 bytes each), and a peer that
// rejects them all sends at most that many rejects ahead of our requests.
const hashWindow = 64

// hashAsks is what a torrent missing piece layers asked of its peers.
// Loop state (diskQueue.asked).
type hashAsks struct {
	// peers holds the live peers we asked (closed ones are pruned as new
	// ones come); once done, only those with requests outstanding.
	peers map[*conn]*hashPeer
	// done: every layer is known, nothing more is asked. The asks stay
	// while answers to our last requests may still come, so that those
	// do not count as unwanted.
	done bool
	// nextStart is the file the next peer is asked about first: peers
	// start hashWindow files apart, so that several peers are not all
	// asked for the same layers first.
	nextStart int
}

// hashPeer is what one peer was asked. Loop state.
type hashPeer struct {
	// out holds the requests sent to the peer and not yet answered by
	// hashes or a hash reject, at most hashWindow, each with the index of
	// its file in V2Hashes.Files. Only an answer to one of them is taken.
	out map[piece.HashRequest]int
	// The peer is asked about every file in turn, from start, wrapping
	// around: visited files were reached, file is the last of them, reqs
	// the requests for its layer not yet sent. The cursor only moves
	// forward: a layer the peer rejected is not asked of it again.
	start, visited, file int
	reqs                 []piece.HashRequest
}

// newHashAsks returns the asks of a torrent that lacks piece layers.
func newHashAsks() *hashAsks {
	return &hashAsks{peers: make(map[*conn]*hashPeer)}
}

// askHashes starts asking c for the piece layers we lack, if we lack any
// and c was not asked yet. Called on every message: cheap once c is in.
// Loop state.
func (t *Torrent) askHashes(c *conn) {
	if t.disk == nil || t.disk.asked == nil || t.disk.asked.done {
		return
	}
	a := t.disk.asked
	if _, ok := a.peers[c]; ok {
		return
	}
	for o := range a.peers {
		select {
		case <-o.closed:
			delete(a.peers, o) // the set holds live peers only
		default:
		}
	}
	files := t.disk.v2.Files()
	if len(files) == 0 {
		return
	}
	p := &hashPeer{out: make(map[piece.HashRequest]int), start: a.nextStart % len(files), file: -1}
	a.nextStart = (p.start + hashWindow) % len(files)
	a.peers[c] = p
	t.sendHashRequests(c, p)
}

// sendHashRequests sends c the next requests for layers we lack, up to
// hashWindow outstanding. Runs of pieces whose hashes came meanwhile (from
// another peer) are skipped. Loop state.
func (t *Torrent) sendHashRequests(c *conn, p *hashPeer) {
	v2 := t.disk.v2
	files := v2.Files()
	for len(p.out) < hashWindow {
		if len(p.reqs) == 0 {
			if p.visited == len(files) {
				return // asked about every layer
			}
			p.file = (p.start + p.visited) % len(files)
			p.visited++
			p.reqs = v2.LayerRequests(p.file) // none for a file of one piece
			continue
		}
		r := p.reqs[0]
		p.reqs = p.reqs[1:]
		if runKnown(v2, files[p.file], r) {
			continue
		}
		if _, ok := p.out[r]; ok {
			continue // cannot happen: each request is met once
		}
		p.out[r] = p.file
		c.send(msgHash(pp.HashRequest, r, nil))
	}
}

// runKnown reports whether every piece of file f that request r covers
// has its hash known.
func runKnown(v2 *piece.V2Hashes, f piece.V2File, r piece.HashRequest) bool {
	end := min(int64(r.Index)+int64(r.Length), int64(f.NumPieces))
	for i := int64(r.Index); i < end; i++ {
		if !v2.Known(f.FirstPiece + int(i)) {
			return false
		}
	}
	return true
}

// onHashAnswer handles hashes or a hash reject from c. One that answers a
// request outstanding with c frees its place in c's window, which is
// refilled; any other is unwanted. Loop state.
func (t *Torrent) onHashAnswer(c *conn, m pp.Message) error {
	req := hashRequestOf(m)
	var a *hashAsks
	if t.disk != nil {
		a = t.disk.asked
	}
	var p *hashPeer
	if a != nil {
		p = a.peers[c]
	}
	k, ok := 0, false
	if p != nil {
		k, ok = p.out[req]
	}
	if !ok {
		return c.unwanted()
	}
	delete(p.out, req)
	if m.Type == pp.Hashes {
		if err := t.onHashes(k, req, m.Hashes); err != nil {
			return err
		}
	}
	// A reject: c lacks that layer; its cursor has passed it, so it is
	// not asked again, while the other peers are as their cursors reach it.
	if a.done {
		t.tidyHashAsks()
		return nil
	}
	t.sendHashRequests(c, p)
	return nil
}

// onHashes installs the hashes a peer sent in answer to our request req
// for file k's layer; hashes that do not prove out to the file's root
// are an error (the peer is dropped). Loop state.
func (t *Torrent) onHashes(k int, req piece.HashRequest, hashes [][32]byte) error {
	v2 := t.disk.v2
	if v2.LayerKnown(k) {
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
	if n > 0 && v2.Complete() {
		t.disk.asked.done = true
		t.tidyHashAsks()
		t.log.Debug("piece layers complete")
	}
	return nil
}

// tidyHashAsks, once every layer is known, forgets the peers with no
// request outstanding or closed, and the asks when none is left. Loop
// state.
func (t *Torrent) tidyHashAsks() {
	a := t.disk.asked
	if a == nil {
		return
	}
	for o, p := range a.peers {
		select {
		case <-o.closed:
			delete(a.peers, o)
			continue
		default:
		}
		if len(p.out) == 0 {
			delete(a.peers, o)
		}
	}
	if len(a.peers) == 0 {
		t.disk.asked = nil
	}
}
