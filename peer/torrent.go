package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer/discovery"
	"github.com/bttspeed/bttspeed/piece"
)

// PeerID identifies a connection within a torrent; it is the number the
// choker and the picker see.
type PeerID = choker.PeerID

// Torrent is one torrent being downloaded or seeded. Its state belongs to
// one goroutine, the torrent's loop; the methods talk to the loop and are
// safe for concurrent use.
type Torrent struct {
	cl       *Client
	ih       metainfo.Hash
	spec     TorrentSpec
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	events   chan event
	wg       sync.WaitGroup // conns, dialers, disk workers
	loopDone chan struct{}
	gotInfo  chan struct{}
	done     chan struct{}
	diskWake chan struct{} // the disk queue drained below its low mark
	st       atomic.Pointer[piece.Storage]

	uploaded   atomic.Int64 // by connections since closed
	upAll      atomic.Int64 // by all connections, for announces
	downloaded atomic.Int64
	left       atomic.Int64
	errMu      sync.Mutex
	err        error

	// Loop state.
	info       *metainfo.Info
	infoBytes  []byte
	layout     piece.Layout
	picker     *piece.Picker
	policy     choker.Policy
	disk       *diskQueue
	conns      map[PeerID]*conn
	nextID     PeerID
	known      map[netip.AddrPort]*candidate
	dialing    int
	banned     map[netip.Prefix]bool // banned addresses (IPv4) and /64s (IPv6): see ban
	bannedIDs  map[[20]byte]bool     // peer ids of banned peers
	meta       metadataFetch
	lastChoke  time.Time
	prevChoke  time.Time // the rechoke before lastChoke
	rechokeDue bool
	wasted     int64
	rng        *rand.Rand
	reqBuf     []piece.Block
	refill     *time.Timer // asks again after a reject's back-off
	refillSet  bool
	soon       *time.Timer // a rechoke asked for within minRechokeGap of the last
	soonSet    bool
}

type candidate struct {
	nextTry   time.Time
	fails     int
	connected bool
	dialing   bool
}

// loopPeer is the loop's state about one connection.
type loopPeer struct {
	amChoking, amInterested     bool
	peerChoking, peerInterested bool
	gotBitfield                 bool
	early                       earlyBitfield // what it has, before we know the info
	haveAll                     bool
	seed                        bool
	have                        int
	connectedAt                 time.Time
	lastBlockAt                 time.Time
	downRing, upRing            [20]int64
	ringIdx                     int
	lastUp, lastDown            int64
	lastSecondDown              int64
	// ticks counts the rate ticks seen; until the second (the first
	// whole second measured), slowStart sets the request pipeline.
	ticks     int
	slowStart int
	// reqq is the most requests the peer said it queues (BEP 10 reqq;
	// zero: it did not say).
	reqq         int
	extIDs       map[string]pp.ExtensionNumber // theirs
	handlers     map[pp.ExtensionNumber]ExtHandler
	metadataID   pp.ExtensionNumber
	metadataSize int
	allowedFast  map[int]bool
	unwanted     int
	rejectedAt   time.Time
	// held are requests a ServeGate held back (a payer at its credit),
	// in the order they came; ServeHeld serves them once it allows.
	held []piece.Block
}

func newTorrent(cl *Client, ih metainfo.Hash, spec TorrentSpec, policy choker.Policy) *Torrent {
	ctx, cancel := context.WithCancel(cl.ctx)
	t := &Torrent{
		cl:        cl,
		ih:        ih,
		spec:      spec,
		log:       cl.log.With("torrent", ih.HexString()[:8]),
		ctx:       ctx,
		cancel:    cancel,
		events:    make(chan event, 1024),
		loopDone:  make(chan struct{}),
		gotInfo:   make(chan struct{}),
		done:      make(chan struct{}),
		diskWake:  make(chan struct{}, 1),
		conns:     make(map[PeerID]*conn),
		known:     make(map[netip.AddrPort]*candidate),
		banned:    make(map[netip.Prefix]bool),
		bannedIDs: make(map[[20]byte]bool),
		policy:    policy,
		rng:       rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	t.left.Store(-1) // unknown until the info is
	return t
}

// InfoHash returns the torrent's v1 info hash.
func (t *Torrent) InfoHash() metainfo.Hash { return t.ih }

// GotInfo is closed once the torrent has its info dictionary (at once for a
// .torrent, after BEP 9 for a magnet link).
func (t *Torrent) GotInfo() <-chan struct{} { return t.gotInfo }

// Done is closed once every piece is downloaded and verified.
func (t *Torrent) Done() <-chan struct{} { return t.done }

// PieceSize returns the size of piece i, or 0 before the info is known or
// out of range. Call it from the torrent's loop (extension handlers).
func (t *Torrent) PieceSize(i int) int64 { return t.layout.PieceSize(i) }

// Left returns the bytes still to download (-1 before the info is known);
// safe from any goroutine.
func (t *Torrent) Left() int64 { return t.left.Load() }

// Err returns the error that stopped the torrent, if any (a storage
// failure); nil while it runs.
func (t *Torrent) Err() error {
	t.errMu.Lock()
	defer t.errMu.Unlock()
	return t.err
}

func (t *Torrent) storage() *piece.Storage { return t.st.Load() }

// post sends an event to the loop, giving up when the torrent stops.
func (t *Torrent) post(ev event) bool {
	select {
	case t.events <- ev:
		return true
	case <-t.ctx.Done():
		return false
	}
}

func (t *Torrent) postFromConn(ev event, c *conn) bool {
	select {
	case t.events <- ev:
		return true
	case <-c.closed:
		return false
	case <-t.ctx.Done():
		return false
	}
}

// do runs f in the loop and waits for it.
func (t *Torrent) do(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	ev := event{kind: evFunc, fn: func() { f(); close(ran) }}
	select {
	case t.events <- ev:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.loopDone:
		return ErrClosed
	}
	select {
	case <-ran:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.loopDone:
		return ErrClosed
	}
}

// AddPeers gives the torrent peers to connect to.
func (t *Torrent) AddPeers(addrs ...netip.AddrPort) {
	addrs = slices.Clone(addrs)
	_ = t.do(context.Background(), func() { t.addCandidates(addrs) })
}

// maxKnownPeers bounds the addresses a torrent keeps to dial: a tracker or
// DHT node that answers with a flood of bogus peers cannot grow it further.
const maxKnownPeers = 2000

func (t *Torrent) addCandidates(addrs []netip.AddrPort) {
	swept := false
	for _, a := range addrs {
		if !a.IsValid() || a.Port() == 0 || t.isBanned(a) || t.isSelf(a) || t.known[a] != nil {
			continue
		}
		if len(t.known) >= maxKnownPeers && !swept {
			// Full: forget the addresses that failed us, once per batch.
			swept = true
			for k, cand := range t.known {
				if cand.fails > 0 && !cand.connected && !cand.dialing {
					delete(t.known, k)
				}
			}
		}
		if len(t.known) >= maxKnownPeers {
			continue
		}
		t.known[a] = &candidate{}
	}
	t.dialMore(time.Now())
}

func (t *Torrent) isSelf(a netip.AddrPort) bool {
	self := t.cl.Addr()
	return self.IsValid() && a.Port() == self.Port() && (a.Addr() == self.Addr() || self.Addr().IsUnspecified() && a.Addr().IsLoopback())
}

// runSource runs a peer source for the torrent's life.
func (t *Torrent) runSource(src discovery.Source) {
	port := int(t.cl.Addr().Port())
	a := discovery.Announce{
		InfoHash: t.ih,
		PeerID:   t.cl.peerID,
		Port:     port,
		Stats: func() discovery.Stats {
			return discovery.Stats{Uploaded: t.upAll.Load(), Downloaded: t.downloaded.Load(), Left: t.left.Load()}
		},
		Found: func(addrs []netip.AddrPort) {
			t.post(event{kind: evFunc, fn: func() { t.addCandidates(addrs) }})
		},
	}
	t.wg.Go(func() {
		if err := src.Run(t.ctx, a); err != nil {
			t.log.Warn("peer source stopped", "err", err)
		}
	})
}

// Close stops the torrent: extension handlers finish what their peers
// are owed (see Settler; at most Config.CloseTimeout), connections close,
// storage is flushed and closed. The data stays on disk.
func (t *Torrent) Close() error {
	t.cl.removeTorrent(t)
	t.settle(t.cl.cfg.CloseTimeout)
	t.cancel()
	<-t.loopDone
	return nil
}

// settle waits, at most d, until no connection's Settler handler is
// unsettled, then until the connections that had one have sent what is
// queued for them and closed. It returns at once if none has one, or if
// the torrent has stopped.
func (t *Torrent) settle(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	owed := map[*conn]bool{} // connections whose handlers had work for their peers
	for {
		unsettled := false
		if err := t.do(ctx, func() {
			for _, c := range t.conns {
				if c.unsettled() {
					unsettled, owed[c] = true, true
				}
			}
		}); err != nil || len(owed) == 0 {
			return
		}
		if !unsettled {
			break
		}
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return
		}
	}
	if err := t.do(ctx, func() {
		for c := range owed {
			c.closeAfterFlush(fmt.Errorf("%w: torrent closed", ErrClosed))
		}
	}); err != nil {
		return
	}
	for c := range owed {
		select {
		case <-c.closed:
		case <-ctx.Done():
			return
		}
	}
}

func (t *Torrent) setErr(err error) {
	t.errMu.Lock()
	if t.err == nil {
		t.err = err
	}
	t.errMu.Unlock()
}

// minRechokeGap is the least time between two rechokes asked for by
// RequestRechoke.
const minRechokeGap = 20 * time.Millisecond

// run is the torrent's loop.
func (t *Torrent) run() {
	defer close(t.loopDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	rechoke := time.NewTicker(t.cl.cfg.RechokeInterval)
	defer rechoke.Stop()
	t.refill = time.NewTimer(time.Hour)
	t.refill.Stop()
	defer t.refill.Stop()
	t.soon = time.NewTimer(time.Hour)
	t.soon.Stop()
	defer t.soon.Stop()
	for {
		select {
		case ev := <-t.events:
			t.handle(ev)
		case <-t.diskWake:
			t.fillAll()
		case <-t.refill.C:
			t.refillSet = false
			t.fillAll()
		case now := <-tick.C:
			t.tick(now)
		case now := <-rechoke.C:
			t.rechoke(now)
		case <-t.soon.C:
			t.soonSet = false
		case <-t.ctx.Done():
			t.shutdown()
			return
		}
		if t.rechokeDue {
			// A rechoke asked for (a new peer, a new bid, a payment):
			// at once, unless two ran within minRechokeGap already —
			// then once that gap has passed — so that a burst of bids
			// costs one rechoke, a new peer's bid right after its
			// interest is not delayed, and a lone bid does not wait
			// for the next interval.
			if wait := minRechokeGap - time.Since(t.prevChoke); wait <= 0 {
				t.rechoke(time.Now())
			} else if !t.soonSet {
				t.soonSet = true
				t.soon.Reset(wait)
			}
		}
	}
}

func (t *Torrent) shutdown() {
	for _, c := range t.conns {
		c.close(nil)
	}
	// Drain events until every goroutine that might post has ended.
	finished := make(chan struct{})
	go func() { t.wg.Wait(); close(finished) }()
	if t.disk != nil {
		t.disk.close()
	}
	for {
		select {
		case ev := <-t.events:
			if ev.kind == evMsg && ev.msg.Type == pp.Piece {
				putBlock(ev.msg.Piece)
			}
			if ev.kind == evNewConn {
				_ = ev.nc.Close()
			}
			if ev.kind == evFunc {
				ev.fn()
			}
		case <-finished:
			for _, c := range t.conns {
				t.dropConn(c)
			}
			if st := t.storage(); st != nil {
				if err := st.Close(); err != nil {
					t.log.Warn("closing storage", "err", err)
				}
			}
			return
		}
	}
}

func (t *Torrent) handle(ev event) {
	switch ev.kind {
	case evMsg:
		if _, ok := t.conns[ev.c.id]; !ok || ev.c.ls.connectedAt.IsZero() {
			if ev.msg.Type == pp.Piece {
				putBlock(ev.msg.Piece)
			}
			return
		}
		if err := t.onMessage(ev.c, ev.msg); err != nil {
			t.log.Debug("dropping peer", "peer", ev.c.addr, "err", err)
			ev.c.close(err)
		}
	case evConnClosed:
		t.dropConn(ev.c)
	case evNewConn:
		t.dialing -= btoi(ev.outgoing)
		if cand := t.known[ev.addr]; cand != nil && ev.outgoing {
			cand.dialing = false
		}
		t.addConn(ev.nc, ev.hs, ev.outgoing, ev.addr)
	case evDialFailed:
		t.dialing--
		if cand := t.known[ev.addr]; cand != nil {
			cand.dialing = false
			cand.fails++
			cand.nextTry = time.Now().Add(time.Duration(min(cand.fails, 6)) * 15 * time.Second)
		}
		// Dial the next at once, not at the next tick: among many dead
		// addresses a live one would otherwise wait 25 dials a second.
		t.dialMore(time.Now())
	case evHashDone:
		t.onHashed(ev.piece, ev.ok, ev.hashes, ev.err)
	case evStorageErr:
		t.fail(fmt.Errorf("storage: %w", ev.err))
	case evFunc:
		ev.fn()
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fail stops the torrent for an error it cannot carry on after.
func (t *Torrent) fail(err error) {
	t.log.Error("torrent stopped", "err", err)
	t.setErr(err)
	t.cancel()
}

func (t *Torrent) addConn(nc net.Conn, hs handshakeResult, outgoing bool, addr netip.AddrPort) {
	reject := func(err error) {
		t.log.Debug("refusing connection", "peer", addr, "err", err)
		_ = nc.Close()
	}
	switch {
	case hs.peerID == t.cl.peerID:
		if cand := t.known[addr]; cand != nil {
			delete(t.known, addr) // it is us: never dial it again
		}
		reject(ErrSelf)
		return
	case t.isBanned(addr) || t.bannedIDs[hs.peerID]:
		reject(ErrBanned)
		return
	}
	for _, c := range t.conns {
		if c.peerID != hs.peerID {
			continue
		}
		// Two connections to one peer (both dialed at once): both sides
		// keep the one opened by the side with the lower peer id, so they
		// never each drop the other's.
		weLow := bytes.Compare(t.cl.peerID[:], hs.peerID[:]) < 0
		if outgoing == weLow && c.outgoing != weLow {
			c.close(fmt.Errorf("%w: replaced by the connection the other side keeps", ErrDuplicate))
			t.dropConn(c)
			break
		}
		reject(ErrDuplicate)
		return
	}
	if len(t.conns) >= t.cl.cfg.MaxConnsPerTorrent {
		victim := t.evictable(time.Now())
		if victim == nil {
			reject(ErrLimit)
			return
		}
		// Full, but a peer has idled long enough without moving a byte
		// of payload: the newcomer replaces it, so that a flood of idle
		// connections cannot lock honest peers out.
		victim.close(fmt.Errorf("%w: replaced by a new peer after %v connected without payload", ErrLimit, time.Since(victim.ls.connectedAt).Round(time.Millisecond)))
		t.dropConn(victim)
	}
	if !t.cl.reserveConn() {
		reject(ErrLimit)
		return
	}
	t.nextID++
	c := newConn(t, nc, outgoing, hs)
	c.id = t.nextID
	if addr.IsValid() {
		c.addr = addr
	}
	c.ls = loopPeer{amChoking: true, peerChoking: true, connectedAt: time.Now()}
	t.conns[c.id] = c
	if cand := t.known[c.addr]; cand != nil {
		cand.connected = true
		cand.fails = 0
	}
	t.wg.Go(c.writeLoop)
	t.wg.Go(func() {
		c.readLoop()
		t.post(event{kind: evConnClosed, c: c})
	})
	if t.picker != nil {
		t.picker.AddPeer(piece.PeerID(c.id), piece.NewBitfield(t.layout.NumPieces()))
	}
	if c.ltep {
		c.send(t.extendedHandshake())
	}
	t.sendHaves(c)
	t.log.Debug("peer connected", "peer", c.addr, "outgoing", outgoing, "fast", c.fast, "ltep", c.ltep)
}

// evictable returns the connection a new peer may replace in a full
// torrent: one connected for at least minEvictAge with no payload sent or
// received and no extension work in flight; of those, one that has sent
// us no message at all if any, and then the one connected longest. Nil if
// there is none.
func (t *Torrent) evictable(now time.Time) *conn {
	var best *conn
	silent := func(c *conn) bool { return !c.ls.gotBitfield && c.ls.extIDs == nil }
	for _, c := range t.conns {
		if now.Sub(c.ls.connectedAt) < t.cl.cfg.minEvictAge || c.uploaded.Load() > 0 || c.downloaded.Load() > 0 || c.busy() {
			continue
		}
		switch {
		case best == nil,
			silent(c) && !silent(best),
			silent(c) == silent(best) && c.ls.connectedAt.Before(best.ls.connectedAt):
			best = c
		}
	}
	return best
}

// sendHaves tells a new peer what we have.
func (t *Torrent) sendHaves(c *conn) {
	if t.picker == nil {
		if c.fast {
			c.send(msgSimple(pp.HaveNone))
		}
		return
	}
	have := t.picker.Have()
	switch {
	case c.fast && have.All():
		c.send(msgSimple(pp.HaveAll))
	case c.fast && have.None():
		c.send(msgSimple(pp.HaveNone))
	case !have.None():
		c.send(msgBitfield(have))
	}
	if c.fast {
		c.ls.allowedFast = make(map[int]bool)
		for _, i := range allowedFastSet(c.addr.Addr(), t.ih, t.layout.NumPieces(), allowedFastCount) {
			c.ls.allowedFast[i] = true
			c.send(msgIndex(pp.AllowedFast, i))
		}
	}
}

func (t *Torrent) dropConn(c *conn) {
	if _, ok := t.conns[c.id]; !ok {
		return
	}
	c.close(nil)
	delete(t.conns, c.id)
	t.uploaded.Add(c.uploaded.Load())
	t.cl.releaseConn()
	for _, h := range c.ls.handlers {
		h.Closed()
	}
	if t.picker != nil {
		t.picker.RemovePeer(piece.PeerID(c.id))
	}
	if cand := t.known[c.addr]; cand != nil {
		cand.connected = false
		cand.nextTry = time.Now().Add(30 * time.Second)
	}
	if err := c.Err(); err != nil && !errors.Is(err, ErrClosed) {
		t.log.Debug("peer gone", "peer", c.addr, "err", err)
	}
	t.fillAll()
}

// tick runs every second: rates, request timeouts, dialing.
func (t *Torrent) tick(now time.Time) {
	for _, c := range t.conns {
		up, down := c.uploaded.Load(), c.downloaded.Load()
		ls := &c.ls
		ls.ringIdx = (ls.ringIdx + 1) % len(ls.upRing)
		ls.upRing[ls.ringIdx] = up - ls.lastUp
		ls.downRing[ls.ringIdx] = down - ls.lastDown
		ls.lastSecondDown = down - ls.lastDown
		ls.ticks++
		ls.lastUp, ls.lastDown = up, down
	}
	t.closeSeeds()
	if t.picker != nil {
		for _, r := range t.picker.Expire(now, nil) {
			if c := t.conns[PeerID(r.Peer)]; c != nil {
				c.send(msgBlock(pp.Cancel, r.Block))
			}
		}
		t.fillAll()
	} else {
		t.requestMetadata()
	}
	t.dialMore(now)
}

// rate returns a peer's average up and down rates over the ring.
func (ls *loopPeer) rates(now time.Time) (up, down int64) {
	secs := int64(now.Sub(ls.connectedAt) / time.Second)
	secs = max(1, min(secs, int64(len(ls.upRing))))
	for i := range ls.upRing {
		up += ls.upRing[i]
		down += ls.downRing[i]
	}
	return up / secs, down / secs
}

func (t *Torrent) dialMore(now time.Time) {
	if t.ctx.Err() != nil {
		return
	}
	for addr, cand := range t.known {
		if t.dialing >= t.cl.cfg.MaxHalfOpen || len(t.conns)+t.dialing >= t.cl.cfg.MaxConnsPerTorrent {
			return
		}
		if cand.connected || cand.dialing || now.Before(cand.nextTry) || t.connectedTo(addr) {
			continue
		}
		cand.dialing = true
		t.dialing++
		t.wg.Go(func() { t.dial(addr) })
	}
}

func (t *Torrent) connectedTo(addr netip.AddrPort) bool {
	for _, c := range t.conns {
		if c.addr == addr {
			return true
		}
	}
	return false
}

func (t *Torrent) dial(addr netip.AddrPort) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cl.cfg.HandshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr.String())
	if err == nil {
		var hs handshakeResult
		hs, err = handshakeOutgoing(ctx, nc, ourExtensions(!t.cl.cfg.DisableFast), t.ih, t.cl.peerID)
		if err == nil {
			if !t.post(event{kind: evNewConn, nc: nc, hs: hs, outgoing: true, addr: addr}) {
				_ = nc.Close()
			}
			return
		}
		_ = nc.Close()
	}
	t.log.Debug("dial failed", "peer", addr, "err", err)
	t.post(event{kind: evDialFailed, addr: addr, err: err})
}
