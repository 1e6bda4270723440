package peer

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/piece"
)

// PeerID identifies a connection within a torrent; it is the number the
// choker and the picker see.
type PeerID = choker.PeerID

// Torrent is one torrent being downloaded or seeded. Its state belongs to
// one goroutine, the torrent's loop; the methods talk to the loop and are
// safe for concurrent use.
type Torrent struct {
	cl     *Client
	ih     metainfo.Hash
	spec   TorrentSpec
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	// events is what goroutines other than connections' readers post
	// to the loop, connEvents what the readers post (made with the first
	// connection: an idle torrent has only the small events). Both carry
	// events from eventPool, which the loop puts back (takeEvent).
	events     chan *event
	connEvents chan *event
	wg         sync.WaitGroup // conns, dialers, disk workers
	loopDone   chan struct{}
	gotInfo    chan struct{}
	done       chan struct{}
	diskWake   chan struct{} // the disk queue drained below its low mark
	st         atomic.Pointer[piece.Storage]
	mail       mailbox     // functions posted to the loop: ExtPeer.Post, Do
	emb        *embedState // files, readers, priorities (files.go, treader.go)

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
	// The tick and the rechoke, armed by schedule for when they are due
	// (zero: stopped); chokedPeers is how many peers the last rechoke saw.
	tickT       *time.Timer
	tickAt      time.Time
	rechokeT    *time.Timer
	rechokeAt   time.Time
	chokedPeers int
	// timerFires counts the ticks and periodic rechokes run (tests).
	timerFires int
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
		events:    make(chan *event, maxControlEvents),
		loopDone:  make(chan struct{}),
		gotInfo:   make(chan struct{}),
		done:      make(chan struct{}),
		diskWake:  make(chan struct{}, 1),
		mail:      mailbox{wake: make(chan struct{}, 1)},
		emb:       newEmbedState(),
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
	p := newEvent(ev)
	select {
	case t.events <- p:
		return true
	case <-t.ctx.Done():
		takeEvent(p)
		return false
	}
}

// postFromConn sends an event from c's reader to the loop, giving up when
// c closes or the torrent stops.
func (t *Torrent) postFromConn(ev event, c *conn) bool {
	p := newEvent(ev)
	select {
	case c.events() <- p:
		return true
	case <-c.closed:
	case <-t.ctx.Done():
	}
	takeEvent(p)
	return false
}

// postClosed tells the loop that c's reader has ended, behind what the
// reader posted before.
func (t *Torrent) postClosed(c *conn) {
	p := newEvent(event{kind: evConnClosed, c: c})
	select {
	case c.events() <- p:
	case <-t.ctx.Done():
		takeEvent(p)
	}
}

// do runs f in the loop and waits for it.
func (t *Torrent) do(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	ev := newEvent(event{kind: evFunc, fn: func() { f(); close(ran) }})
	select {
	case t.events <- ev:
	case <-ctx.Done():
		takeEvent(ev)
		return ctx.Err()
	case <-t.loopDone:
		takeEvent(ev)
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

// fail stops the torrent for an error it cannot carry on after.
func (t *Torrent) fail(err error) {
	t.log.Error("torrent stopped", "err", err)
	t.setErr(err)
	t.cancel()
}
