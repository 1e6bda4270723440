package peer

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

// blockPool holds 16 KiB buffers for received blocks and blocks being sent.
var blockPool = sync.Pool{New: func() any { b := make([]byte, piece.BlockSize); return &b }}

// outItem is one thing the writer sends: an encoded message, or a block to
// read from storage and send as a piece message.
type outItem struct {
	raw   []byte
	serve bool
	free  bool // a block a ServeGate passed with ServeFree
	block piece.Block
	// mark, if set, makes a message keep its place among the blocks
	// (sendMarked), and is called once it is written.
	mark func(uploaded, uploadedFree int64)
	// chokes is conn.chokes when the block was queued: a block queued
	// before a choke is not sent after it (writeLoop).
	chokes uint32
}

// conn is one peer connection. Its reader and writer goroutines own the
// socket; all other state about the peer belongs to the torrent's loop (the
// fields marked "loop").
type conn struct {
	t        *Torrent
	id       PeerID
	nc       net.Conn
	addr     netip.AddrPort
	outgoing bool
	peerID   [20]byte
	fast     bool // both sides support BEP 6
	ltep     bool // both sides support BEP 10

	// Writer queue.
	mu     sync.Mutex
	queue  []outItem
	serves int // serve items in queue
	// queuedBytes is what the messages (not the blocks) in queue cost;
	// past maxQueuedBytes the peer is dropped.
	queuedBytes int
	wake        chan struct{}
	closing     bool
	// drainErr, once set, closes the connection with it when the queue
	// has been written out (a polite close).
	drainErr error

	closeOnce sync.Once
	closed    chan struct{}
	err       error // why it closed; set before closed is closed

	uploaded     atomic.Int64 // payload bytes sent
	uploadedFree atomic.Int64 // of which for blocks served with ServeFree
	// chokes counts the chokes sent to the peer (the loop adds, before it
	// queues the choke): a block queued under an earlier count and not
	// yet written is dropped by the writer, with a reject to a fast peer.
	chokes     atomic.Uint32
	downloaded atomic.Int64 // payload bytes received
	// disk is the torrent's disk queue, stored by the loop before it
	// takes the connection's first block (nil before): the reader waits
	// on it when it is too full (diskQueue.waitRoom).
	disk atomic.Pointer[diskQueue]

	// ev is where the reader posts (the torrent's connEvents; nil:
	// its events). Set before the reader starts.
	ev chan *event

	// loop state
	ls loopPeer
}

// events returns the channel c's reader posts to.
func (c *conn) events() chan *event {
	if c.ev != nil {
		return c.ev
	}
	return c.t.events
}

func newConn(t *Torrent, nc net.Conn, outgoing bool, hs handshakeResult) *conn {
	ap, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	return &conn{
		t:        t,
		nc:       nc,
		addr:     ap,
		outgoing: outgoing,
		peerID:   hs.peerID,
		fast:     hs.ext.SupportsFast() && !t.cl.cfg.DisableFast,
		ltep:     hs.ext.SupportsExtended(),
		wake:     make(chan struct{}, 1),
		closed:   make(chan struct{}),
	}
}

// close ends the connection with err (nil for a clean local close).
func (c *conn) close(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.err = err
		c.mu.Unlock()
		_ = c.nc.Close()
		close(c.closed)
	})
}

// closeAfterFlush closes the connection with err once everything queued
// has been written.
func (c *conn) closeAfterFlush(err error) {
	c.mu.Lock()
	if c.drainErr == nil {
		c.drainErr = err
	}
	c.mu.Unlock()
	c.signal()
}

// Err returns why the connection closed.
func (c *conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// A connection's read and write buffers start small and grow to bigBuffer
// once blocks flow that way: a thousand idle connections cost little, a
// transfer gets large reads and writes.
const (
	smallBuffer = 4 << 10
	bigBuffer   = 256 << 10
)

// putBlock returns a block buffer from the decoder's pool.
func putBlock(b []byte) {
	if cap(b) == piece.BlockSize {
		b = b[:piece.BlockSize]
		blockPool.Put(&b)
	}
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
