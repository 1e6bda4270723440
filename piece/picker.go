package piece

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// PeerID identifies a peer to the Picker; the engine uses the same numbers
// as choker.PeerID.
type PeerID uint64

// Request is a block in flight to a peer.
type Request struct {
	Peer  PeerID
	Block Block
}

// Received is the Picker's answer to an arrived block.
type Received struct {
	// Wanted is false for a block this peer was not asked for, or one
	// already received: the caller drops the data.
	Wanted bool
	// PieceDone reports that every block of the piece is now in: hash it,
	// then call Verified.
	PieceDone bool
	// Cancel lists the other peers that also have this block in flight
	// (endgame): send them a cancel.
	Cancel []Request
}

// PickerConfig configures a Picker. Zero fields take the defaults shown.
type PickerConfig struct {
	// Rand breaks ties between equally rare pieces. Nil means a fixed
	// seed.
	Rand *rand.Rand
	// RequestTimeout is how long a request may be in flight before Expire
	// makes its block requestable again (default 30 s).
	RequestTimeout time.Duration
	// EndgameDuplicates is the most peers a block is in flight to at once
	// in endgame (default 2).
	EndgameDuplicates int
	// BanAfterBadPieces bans a peer once it is proven to have sent bad
	// data in this many pieces (default 1). A peer is proven bad when it
	// alone sent a piece that failed its hash, or when a block it sent to
	// a failed piece differs from the same block of the piece once it
	// verifies (libtorrent's "smart ban": see VerifiedBlocks). Merely
	// having sent part of a failed piece only charges a peer, so an honest
	// peer is never banned for a liar's blocks.
	BanAfterBadPieces int
	// Padding is the torrent's BEP 47 padding (PaddingOf): its blocks
	// are never picked, and count as received from NoPeer as soon as a
	// piece starts. A piece that is all padding must be had already
	// (verified from zeros before the picker is made).
	Padding Padding
}

// NoPeer is the sender PieceSenders gives for a padding block: nobody sent
// it, it is zeros.
const NoPeer = PeerID(1<<64 - 1)

// ErrPickerConfig reports a refused Picker configuration.
var ErrPickerConfig = errors.New("piece: invalid picker configuration")

type blockState uint8

const (
	blockPending blockState = iota
	blockRequested
	blockReceived
)

type inflight struct {
	peer     PeerID
	deadline time.Time
}

type partial struct {
	index    int
	state    []blockState
	owners   [][]inflight // per block: peers it is in flight to
	senders  []PeerID     // per block: who delivered it
	received int
	hashing  bool
}

type peerState struct {
	has      Bitfield
	wanted   int // pieces it has that we lack
	inflight int
	last     int // the piece last started for it, for extent affinity
	charged  int // failed pieces it contributed to
	bad      int // pieces it is proven to have corrupted
	banned   bool
	// The serve ledger (serve.go): the pieces we have been sending it,
	// when we first declined it each piece we declined, and whether it
	// has announced a piece we did not send it (in its bitfield or a
	// have): it gets pieces from others.
	served   Bitfield
	declined map[int]time.Time
	trades   bool
}

// failedAttempt is what a piece that failed its hash was made of: who sent
// each block, and (when known) each block's hash.
type failedAttempt struct {
	senders []PeerID
	hashes  [][20]byte
}

// Picker decides which blocks to request from which peer. It is not safe
// for concurrent use.
type Picker struct {
	cfg    PickerConfig
	layout Layout
	have   Bitfield
	left   int64
	avail  []int32
	// Pieces not started, bucketed by availability: buckets[a] holds the
	// pieces available from a peers; pos[i] is i's index in its bucket, or
	// -1 if i is not in a bucket (have, partial, or hashing).
	buckets     [][]int32
	pos         []int32
	partials    map[int]*partial
	partialList []int // partial pieces in the order they started
	unrequested int64 // blocks of missing pieces neither requested nor received
	peers       map[PeerID]*peerState
	failed      map[int][]failedAttempt
	// Priorities (priority.go). A piece of PriorityNone is not wanted: it
	// is in no bucket, its blocks do not count in unrequested, peers' wanted
	// counts leave it out, and it is never picked. wantedLeft is the bytes
	// of the wanted pieces we lack.
	prio       []Priority
	urgent     []int        // pieces above PriorityNormal, highest first, then by index
	urgentSet  map[int]bool // the pieces urgent is built from
	urgentOld  bool         // urgent must be rebuilt from urgentSet
	sequential bool         // new pieces in index order instead of rarest first
	seqFrom    int          // no piece below it is in a bucket
	wantedLeft int64
	// padBlocks counts, per piece that has any, the blocks that are all
	// padding: never requested, received from NoPeer when it starts.
	padBlocks map[int]int
	// copies counts, per piece, the peers it is being or was served to,
	// and uncopied the pieces with no copy that no peer has (serve.go);
	// copies is nil until the first Served.
	copies   []uint16
	uncopied int
}

// NewPicker returns a Picker for a torrent of layout l of which we already
// have the pieces in have.
func NewPicker(l Layout, have Bitfield, cfg PickerConfig) (*Picker, error) {
	n := l.NumPieces()
	if have.Len() != n {
		return nil, fmt.Errorf("%w: have covers %d pieces, layout has %d", ErrPickerConfig, have.Len(), n)
	}
	if cfg.RequestTimeout < 0 || cfg.EndgameDuplicates < 0 || cfg.BanAfterBadPieces < 0 {
		return nil, fmt.Errorf("%w: negative value", ErrPickerConfig)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(0x7069656365, 1))
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.EndgameDuplicates == 0 {
		cfg.EndgameDuplicates = 2
	}
	if cfg.BanAfterBadPieces == 0 {
		cfg.BanAfterBadPieces = 1
	}
	p := &Picker{
		cfg:       cfg,
		layout:    l,
		have:      have.Clone(),
		avail:     make([]int32, n),
		buckets:   make([][]int32, 1),
		pos:       make([]int32, n),
		partials:  make(map[int]*partial),
		peers:     make(map[PeerID]*peerState),
		failed:    make(map[int][]failedAttempt),
		prio:      make([]Priority, n),
		urgentSet: make(map[int]bool),
		padBlocks: cfg.Padding.PaddingBlocks(l),
	}
	for i := 0; i < n; i++ {
		p.pos[i] = -1
		p.prio[i] = PriorityNormal
		if !p.have.Has(i) {
			if p.realBlocks(i) == 0 {
				return nil, fmt.Errorf("%w: piece %d is all padding and not had (verify it from zeros first)", ErrPickerConfig, i)
			}
			p.left += l.PieceSize(i)
			p.unrequested += int64(p.realBlocks(i))
			p.bucketAdd(i)
		}
	}
	p.wantedLeft = p.left
	return p, nil
}

func (p *Picker) bucketAdd(i int) {
	a := int(p.avail[i])
	for len(p.buckets) <= a {
		p.buckets = append(p.buckets, nil)
	}
	p.pos[i] = int32(len(p.buckets[a]))
	p.buckets[a] = append(p.buckets[a], int32(i))
	p.seqFrom = min(p.seqFrom, i)
}

func (p *Picker) bucketRemove(i int) {
	at := p.pos[i]
	if at < 0 {
		return
	}
	b := p.buckets[p.avail[i]]
	last := b[len(b)-1]
	b[at] = last
	p.pos[last] = at
	p.buckets[p.avail[i]] = b[:len(b)-1]
	p.pos[i] = -1
}

// setAvail changes piece i's availability by d, moving it between buckets.
func (p *Picker) setAvail(i int, d int32) {
	inBucket := p.pos[i] >= 0
	if inBucket {
		p.bucketRemove(i)
	}
	was := p.copies != nil && p.copies[i] == 0 && p.avail[i] == 0
	p.avail[i] += d
	if inBucket {
		p.bucketAdd(i)
	}
	p.countUncopied(i, was)
}

// AddPeer records what a peer has (its bitfield; have-all is a full
// bitfield). Calling it again for a known peer replaces what it had.
func (p *Picker) AddPeer(id PeerID, has Bitfield) {
	if has.Len() != p.layout.NumPieces() {
		has = NewBitfield(p.layout.NumPieces())
	}
	ps := p.peers[id]
	if ps == nil {
		ps = &peerState{has: NewBitfield(p.layout.NumPieces()), last: -2}
		p.peers[id] = ps
	}
	ps.has.Each(func(i int) { p.setAvail(i, -1) })
	ps.has = has.Clone()
	if ps.inflight > 0 {
		// A replaced bitfield may drop pieces we asked the peer for.
		for _, i := range p.partialList {
			if has.Has(i) {
				continue
			}
			pc := p.partials[i]
			for j := range pc.owners {
				p.dropOwner(pc, j, id)
			}
		}
	}
	ps.wanted = 0
	ps.has.Each(func(i int) {
		p.setAvail(i, 1)
		if p.wants(i) {
			ps.wanted++
		}
		if !ps.served.Has(i) {
			ps.trades = true // it had it from someone else
		}
	})
}

// PeerHave records that a peer has piece i.
func (p *Picker) PeerHave(id PeerID, i int) {
	ps := p.peers[id]
	if ps == nil {
		p.AddPeer(id, NewBitfield(p.layout.NumPieces()))
		ps = p.peers[id]
	}
	if i < 0 || i >= p.layout.NumPieces() || ps.has.Has(i) {
		return
	}
	ps.has.Set(i)
	p.setAvail(i, 1)
	if p.wants(i) {
		ps.wanted++
	}
	if !ps.served.Has(i) {
		ps.trades = true // it had it from someone else
	}
	delete(ps.declined, i) // it will not ask again
}

// RemovePeer forgets a peer and returns the blocks that were in flight to
// it; those nobody else is fetching are requestable again.
func (p *Picker) RemovePeer(id PeerID) []Block {
	ps := p.peers[id]
	if ps == nil {
		return nil
	}
	out := p.Abandon(id)
	p.forgetServed(ps)
	ps.has.Each(func(i int) { p.setAvail(i, -1) })
	delete(p.peers, id)
	return out
}

// dropOwner removes peer id from block j's owners, returning the block to
// pending if nobody else has it in flight. It reports whether id owned it.
func (p *Picker) dropOwner(pc *partial, j int, id PeerID) bool {
	o := pc.owners[j]
	for k := range o {
		if o[k].peer != id {
			continue
		}
		o[k] = o[len(o)-1]
		pc.owners[j] = o[:len(o)-1]
		if ps := p.peers[id]; ps != nil {
			ps.inflight--
		}
		if len(pc.owners[j]) == 0 && pc.state[j] == blockRequested {
			pc.state[j] = blockPending
			if p.prio[pc.index] != PriorityNone {
				p.unrequested++
			}
		}
		return true
	}
	return false
}

// Abandon returns the blocks in flight to the peer and makes them
// requestable again (unless others are fetching them): what to do when a
// peer without the fast extension chokes us, since it drops our requests.
func (p *Picker) Abandon(id PeerID) []Block {
	ps := p.peers[id]
	if ps == nil || ps.inflight == 0 {
		return nil
	}
	var out []Block
	for _, i := range p.partialList {
		pc := p.partials[i]
		for j := range pc.owners {
			if p.dropOwner(pc, j, id) {
				out = append(out, p.layout.Block(i, j))
			}
		}
	}
	return out
}

// PeerHas reports whether the peer has piece i, as far as we know.
func (p *Picker) PeerHas(id PeerID, i int) bool {
	ps := p.peers[id]
	return ps != nil && ps.has.Has(i)
}

// Interesting reports whether the peer has a piece we lack.
func (p *Picker) Interesting(id PeerID) bool {
	ps := p.peers[id]
	return ps != nil && ps.wanted > 0
}

// Banned reports whether the peer was banned for sending bad pieces.
func (p *Picker) Banned(id PeerID) bool {
	ps := p.peers[id]
	return ps != nil && ps.banned
}

// InFlight returns the number of requests in flight to the peer.
func (p *Picker) InFlight(id PeerID) int {
	if ps := p.peers[id]; ps != nil {
		return ps.inflight
	}
	return 0
}

// Endgame reports whether every missing block is requested or received.
func (p *Picker) Endgame() bool { return p.unrequested == 0 && p.wantedLeft > 0 }

// Pick appends to dst up to max new requests for the peer and marks them in
// flight until now plus the request timeout: blocks of pieces above
// PriorityNormal first (highest first, then lowest index; a PriorityNow
// piece whose blocks are all in flight elsewhere gets duplicates), then of
// partial pieces, then of new pieces — rarest first with a random
// tie-break, or lowest index first in sequential mode — and in endgame
// duplicates of blocks in flight elsewhere. Pieces of PriorityNone are
// never picked.
func (p *Picker) Pick(id PeerID, max int, now time.Time, dst []Block) []Block {
	ps := p.peers[id]
	if ps == nil || ps.banned || max <= 0 || ps.wanted == 0 {
		return dst
	}
	deadline := now.Add(p.cfg.RequestTimeout)
	n := 0
	take := func(pc *partial) {
		for j := range pc.state {
			if n == max {
				return
			}
			if pc.state[j] != blockPending {
				continue
			}
			pc.state[j] = blockRequested
			pc.owners[j] = append(pc.owners[j], inflight{id, deadline})
			p.unrequested--
			ps.inflight++
			dst = append(dst, p.layout.Block(pc.index, j))
			n++
		}
	}
	// dup requests blocks of pc in flight to fewer than EndgameDuplicates
	// other peers.
	dup := func(pc *partial) {
		for j := range pc.state {
			if n == max {
				return
			}
			if pc.state[j] != blockRequested || len(pc.owners[j]) >= p.cfg.EndgameDuplicates || owns(pc.owners[j], id) {
				continue
			}
			pc.owners[j] = append(pc.owners[j], inflight{id, deadline})
			ps.inflight++
			dst = append(dst, p.layout.Block(pc.index, j))
			n++
		}
	}
	// 0. Urgent pieces: under and ahead of readers, high priority files.
	if len(p.urgentSet) > 0 {
		for _, i := range p.urgentList() {
			if n == max {
				return dst
			}
			if p.have.Has(i) || !ps.has.Has(i) {
				continue
			}
			pc := p.partials[i]
			if pc == nil {
				if p.pos[i] < 0 {
					continue
				}
				pc = p.start(i)
			}
			if pc.hashing {
				continue
			}
			take(pc)
			if p.prio[i] == PriorityNow {
				dup(pc)
			}
		}
	}
	// 1. Partial pieces, oldest first.
	for _, i := range p.partialList {
		if n == max {
			return dst
		}
		pc := p.partials[i]
		if !pc.hashing && ps.has.Has(i) && p.prio[i] != PriorityNone {
			take(pc)
		}
	}
	// 2. New pieces, in order or rarest first.
	if p.sequential {
		for n < max && p.unrequested > 0 {
			i := p.nextInOrder(ps)
			if i < 0 {
				break
			}
			ps.last = i
			take(p.start(i))
		}
	}
	for a := 1; a < len(p.buckets) && n < max && p.unrequested > 0; a++ {
		for len(p.buckets[a]) > 0 && n < max {
			i := p.pickFromBucket(a, ps)
			if i < 0 {
				break
			}
			ps.last = i
			take(p.start(i))
		}
	}
	// 3. Endgame: duplicate blocks in flight to others.
	if n < max && p.unrequested == 0 {
		for _, i := range p.partialList {
			if n == max {
				return dst
			}
			pc := p.partials[i]
			if pc.hashing || !ps.has.Has(i) || p.prio[i] == PriorityNone {
				continue
			}
			dup(pc)
		}
	}
	return dst
}

// pickFromBucket returns a piece of bucket a (the rarest the peer can give)
// that the peer has, or -1. Among equally rare pieces it prefers the one
// after the piece it last started for this peer, so a fast peer fills the
// file in runs (libtorrent's piece extent affinity: sparse random writes
// fragment the file and cost the disk dearly); otherwise it draws at random,
// scanning from a random start.
func (p *Picker) pickFromBucket(a int, ps *peerState) int {
	if next := ps.last + 1; next > 0 && next < len(p.pos) && p.pos[next] >= 0 && int(p.avail[next]) == a && ps.has.Has(next) {
		return next
	}
	b := p.buckets[a]
	start := p.cfg.Rand.IntN(len(b))
	for k := 0; k < len(b); k++ {
		i := int(b[(start+k)%len(b)])
		if ps.has.Has(i) {
			return i
		}
	}
	return -1
}

func owns(o []inflight, id PeerID) bool {
	for _, x := range o {
		if x.peer == id {
			return true
		}
	}
	return false
}

// start makes piece i partial.
func (p *Picker) start(i int) *partial {
	p.bucketRemove(i)
	nb := p.layout.NumBlocks(i)
	pc := &partial{
		index:   i,
		state:   make([]blockState, nb),
		owners:  make([][]inflight, nb),
		senders: make([]PeerID, nb),
	}
	if p.padBlocks[i] > 0 {
		for j := range nb {
			if p.cfg.Padding.BlockIsPadding(p.layout, p.layout.Block(i, j)) {
				pc.state[j] = blockReceived
				pc.senders[j] = NoPeer
				pc.received++
			}
		}
	}
	p.partials[i] = pc
	p.partialList = append(p.partialList, i)
	return pc
}

// realBlocks returns the blocks of piece i that peers must send: all but
// those of padding.
func (p *Picker) realBlocks(i int) int { return p.layout.NumBlocks(i) - p.padBlocks[i] }

// Received records a block that arrived from a peer.
func (p *Picker) Received(id PeerID, b Block) Received {
	pc := p.partials[b.Piece]
	if pc == nil || pc.hashing || !p.layout.Valid(b) {
		return Received{}
	}
	j := int(b.Begin / BlockSize)
	if pc.state[j] == blockReceived || !owns(pc.owners[j], id) {
		return Received{}
	}
	var res Received
	res.Wanted = true
	for _, o := range pc.owners[j] {
		if ps := p.peers[o.peer]; ps != nil {
			ps.inflight--
		}
		if o.peer != id {
			res.Cancel = append(res.Cancel, Request{Peer: o.peer, Block: b})
		}
	}
	pc.owners[j] = pc.owners[j][:0]
	pc.state[j] = blockReceived
	pc.senders[j] = id
	pc.received++
	if pc.received == len(pc.state) {
		pc.hashing = true
		res.PieceDone = true
	}
	return res
}

// Rejected returns a block the peer will not send (BEP 6 reject, or dropped
// on choke) to pending, unless others are fetching it.
func (p *Picker) Rejected(id PeerID, b Block) {
	pc := p.partials[b.Piece]
	if pc == nil || !p.layout.Valid(b) {
		return
	}
	p.dropOwner(pc, int(b.Begin/BlockSize), id)
}

// Expire appends to dst the requests whose deadline is past and makes their
// blocks requestable again; the caller may send cancels for them.
func (p *Picker) Expire(now time.Time, dst []Request) []Request {
	for _, i := range p.partialList {
		pc := p.partials[i]
		for j := range pc.owners {
			for k := 0; k < len(pc.owners[j]); k++ {
				o := pc.owners[j][k]
				if now.Before(o.deadline) {
					continue
				}
				dst = append(dst, Request{Peer: o.peer, Block: p.layout.Block(i, j)})
				p.dropOwner(pc, j, o.peer)
				k--
			}
		}
	}
	return dst
}

// Have returns a copy of the pieces we have.
func (p *Picker) Have() Bitfield { return p.have.Clone() }

// HasPiece reports whether we have piece i.
func (p *Picker) HasPiece(i int) bool { return p.have.Has(i) }

// Complete reports whether we have every piece.
func (p *Picker) Complete() bool { return p.left == 0 }

// Left returns the bytes we still lack.
func (p *Picker) Left() int64 { return p.left }

// Availability returns how many known peers have piece i.
func (p *Picker) Availability(i int) int {
	if i < 0 || i >= len(p.avail) {
		return 0
	}
	return int(p.avail[i])
}
