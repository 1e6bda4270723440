package peer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
	downloaded   atomic.Int64 // payload bytes received

	// loop state
	ls loopPeer
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

// maxQueuedBytes bounds what the messages queued for a peer and not yet
// taken by its writer may cost (blocks to upload are bounded by
// Config.MaxQueuedRequests instead). Our own messages to a peer are small
// and few; what can pile up is answers — rejects, metadata pieces — to a
// peer that keeps asking and never reads them. That peer is dropped rather
// than let it grow our memory without bound.
const maxQueuedBytes = 2 << 20

// queueItemCost is what one queued message costs besides its bytes.
const queueItemCost = 64

// send queues an encoded message; it never blocks. A peer whose queue
// outgrows maxQueuedBytes is closed with ErrSlowPeer.
func (c *conn) send(raw []byte) { c.sendItem(outItem{raw: raw}) }

// sendMarked queues an encoded message that keeps its place among the
// blocks queued before and after it — a message that changes the terms
// they are sent under — and calls mark, on the writer's goroutine, once it
// is written, with the payload counters then: they count every block
// before it in the stream and none after.
func (c *conn) sendMarked(raw []byte, mark func(uploaded, uploadedFree int64)) {
	c.sendItem(outItem{raw: raw, mark: mark})
}

func (c *conn) sendItem(it outItem) {
	raw := it.raw
	c.mu.Lock()
	var over int
	if !c.closing {
		c.queue = append(c.queue, it)
		c.queuedBytes += len(raw) + queueItemCost
		if c.queuedBytes > maxQueuedBytes {
			over = c.queuedBytes
		}
	}
	c.mu.Unlock()
	if over > 0 {
		c.close(fmt.Errorf("%w: %d bytes of messages queued for it", ErrSlowPeer, over))
		return
	}
	c.signal()
}

// queuedMessageBytes returns what the messages queued for the peer cost.
func (c *conn) queuedMessageBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queuedBytes
}

// serve queues a block to upload, refusing past the per-peer limit; free
// marks a block a ServeGate passed with ServeFree.
func (c *conn) serve(b piece.Block, free bool, limit int) bool {
	c.mu.Lock()
	if c.closing || c.serves >= limit {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, outItem{serve: true, free: free, block: b})
	c.serves++
	c.mu.Unlock()
	c.signal()
	return true
}

// queued returns the number of uploads queued.
func (c *conn) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serves
}

// unserve removes queued uploads: the one block b, or all if all is set. It
// returns the items removed.
func (c *conn) unserve(b piece.Block, all bool) []outItem {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []outItem
	q := c.queue[:0]
	for _, it := range c.queue {
		if it.serve && (all || it.block == b) {
			out = append(out, it)
			c.serves--
			continue
		}
		q = append(q, it)
	}
	clear(c.queue[len(q):])
	c.queue = q
	return out
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
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

// writeLoop drains the queue into the socket through a buffer, flushing
// when the queue is empty, and sends keep-alives when idle.
func (c *conn) writeLoop() {
	w := bufio.NewWriterSize(c.nc, smallBuffer)
	keepAlive := time.NewTimer(c.t.cl.cfg.KeepAliveInterval)
	defer keepAlive.Stop()
	var batch []outItem
	var hdr [13]byte
	for {
		batch = c.takeBatch(batch[:0])
		if len(batch) == 0 {
			if err := w.Flush(); err != nil {
				c.close(fmt.Errorf("write: %w", err))
				return
			}
			c.mu.Lock()
			drain := c.drainErr
			empty := len(c.queue) == 0
			c.mu.Unlock()
			if drain != nil && empty {
				c.close(drain)
				return
			}
			select {
			case <-c.wake:
				continue
			case <-keepAlive.C:
				c.send([]byte{0, 0, 0, 0})
				keepAlive.Reset(c.t.cl.cfg.KeepAliveInterval)
				continue
			case <-c.closed:
				return
			}
		}
		for i, it := range batch {
			var err error
			if it.serve {
				c.mu.Lock()
				c.serves--
				c.mu.Unlock()
				if w.Size() < bigBuffer {
					if err := w.Flush(); err != nil {
						c.close(fmt.Errorf("write: %w", err))
						return
					}
					w = bufio.NewWriterSize(c.nc, bigBuffer)
				}
				if !c.throttle(w, int(it.block.Length)) {
					return
				}
				err = c.writeBlock(w, &hdr, it.block, it.free)
			} else {
				_, err = w.Write(it.raw)
				if err == nil && it.mark != nil {
					// Uploaded first, as accrue reads them.
					it.mark(c.uploaded.Load(), c.uploadedFree.Load())
				}
			}
			batch[i] = outItem{}
			if err != nil {
				c.close(fmt.Errorf("write: %w", err))
				return
			}
		}
		keepAlive.Reset(c.t.cl.cfg.KeepAliveInterval)
	}
}

// maxServeBatch is how many queued blocks the writer takes at once: the
// messages queued meanwhile (an unchoke, an award) wait for at most these.
const maxServeBatch = 32

// takeBatch moves what the writer sends next from the queue to batch:
// every message queued, in order, then up to maxServeBatch blocks, in
// order. Messages go ahead of blocks queued before them, so that a choke,
// a have or an extension message is not stuck behind megabytes of data.
func (c *conn) takeBatch(batch []outItem) []outItem {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queuedBytes = 0 // every message is taken
	if c.serves == 0 || len(c.queue) <= maxServeBatch {
		batch = append(batch, c.queue...)
		clear(c.queue)
		c.queue = c.queue[:0]
		return batch
	}
	for _, it := range c.queue {
		if !it.serve && it.mark == nil {
			batch = append(batch, it)
		}
	}
	// Blocks, and the marked messages among them, in order: a marked
	// message after the batch's last block waits for the next batch.
	rest, n, full := c.queue[:0], 0, false
	for _, it := range c.queue {
		switch {
		case !it.serve && it.mark == nil:
		case full:
			rest = append(rest, it)
			if !it.serve {
				c.queuedBytes += len(it.raw) + queueItemCost
			}
		case !it.serve:
			batch = append(batch, it)
		case n < maxServeBatch:
			batch = append(batch, it)
			n++
		default:
			full = true
			rest = append(rest, it)
		}
	}
	clear(c.queue[len(rest):])
	c.queue = rest
	return batch
}

// throttle waits, if the client caps its upload rate, until n more bytes
// may go; what is buffered is flushed first, so the peer is not kept
// waiting for it. It returns false if the connection closed meanwhile.
func (c *conn) throttle(w *bufio.Writer, n int) bool {
	lim := c.t.cl.upLimit
	if lim == nil {
		return true
	}
	r := lim.ReserveN(time.Now(), n)
	if !r.OK() {
		return true // n exceeds the burst: cannot happen, the burst is at least a block
	}
	d := r.Delay()
	if d <= 0 {
		return true
	}
	if err := w.Flush(); err != nil {
		r.Cancel()
		c.close(fmt.Errorf("write: %w", err))
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closed:
		r.Cancel()
		return false
	}
}

func (c *conn) writeBlock(w *bufio.Writer, hdr *[13]byte, b piece.Block, free bool) error {
	st := c.t.storage()
	if st == nil {
		return fmt.Errorf("%w: serve before metadata", ErrProtocol)
	}
	bp := blockPool.Get().(*[]byte)
	defer blockPool.Put(bp)
	var buf []byte
	if int(b.Length) <= len(*bp) {
		buf = (*bp)[:b.Length]
	} else {
		buf = make([]byte, b.Length) // odd large request, allowed up to 128 KiB
	}
	if err := st.ReadBlock(b, buf); err != nil {
		c.t.post(event{kind: evStorageErr, c: c, err: err})
		return err
	}
	pieceHeader(hdr, b)
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(buf); err != nil {
		return err
	}
	if free {
		c.uploadedFree.Add(int64(b.Length)) // before uploaded: never more than it
	}
	c.uploaded.Add(int64(b.Length))
	c.t.upAll.Add(int64(b.Length))
	return nil
}

// readLoop decodes messages and posts them to the torrent's loop.
func (c *conn) readLoop() {
	r := bufio.NewReaderSize(c.nc, smallBuffer)
	d := pp.Decoder{R: r, Pool: &blockPool, MaxLength: maxMessageLength}
	idle := c.t.cl.cfg.IdleTimeout
	var lastDeadline time.Time
	for {
		if now := time.Now(); now.Sub(lastDeadline) > time.Second {
			_ = c.nc.SetReadDeadline(now.Add(idle))
			lastDeadline = now
		}
		if err := c.checkLength(r); err != nil {
			c.close(err)
			return
		}
		var msg pp.Message
		err := d.Decode(&msg)
		if err != nil {
			c.close(readErr(err))
			return
		}
		if msg.Keepalive {
			continue
		}
		if msg.Type == pp.Extended {
			if err := checkExtended(msg.ExtendedID, msg.ExtendedPayload); err != nil {
				c.close(err)
				return
			}
		}
		ev := event{kind: evMsg, c: c, msg: msg}
		if msg.Type == pp.Piece {
			c.downloaded.Add(int64(len(msg.Piece)))
			if r.Size() < bigBuffer {
				r = growReader(r, c.nc)
				d.R = r
			}
		}
		if !c.t.postFromConn(ev, c) {
			if msg.Type == pp.Piece {
				putBlock(msg.Piece)
			}
			return
		}
	}
}

// maxExtendedLength bounds a BEP 10 message: a metadata piece (16 KiB)
// with its dictionary, an extended handshake, btt_speed's messages (4 KiB
// at most) all fit with room to spare.
const maxExtendedLength = 128 << 10

// lengthLimit returns the longest message of type typ we accept now.
func (c *conn) lengthLimit(typ pp.MessageType) uint32 {
	switch typ {
	case pp.Bitfield:
		n := maxEarlyPieces
		if st := c.t.storage(); st != nil {
			n = st.Layout().NumPieces()
		}
		return uint32(1 + (n+7)/8)
	case pp.Extended:
		return maxExtendedLength
	}
	return maxMessageLength
}

// checkLength looks at the next message's header without consuming it, and
// refuses a message longer than its type allows before the decoder
// allocates for it: the decoder would take a bitfield of up to
// maxMessageLength bytes and make it eight times larger as bools. A
// ut_metadata message (our number 1) longer than a piece and its dict is
// refused too.
func (c *conn) checkLength(r *bufio.Reader) error {
	hdr, err := r.Peek(4)
	if err != nil {
		return readErr(err)
	}
	length := binary.BigEndian.Uint32(hdr)
	if length == 0 {
		return nil // a keep-alive
	}
	if hdr, err = r.Peek(5); err != nil {
		return readErr(err)
	}
	typ := pp.MessageType(hdr[4])
	if limit := c.lengthLimit(typ); length > limit {
		return fmt.Errorf("%w: %v message too long: %d bytes, at most %d", ErrProtocol, typ, length, limit)
	}
	if typ == pp.Extended && length > 2+maxMetadataMessage {
		if hdr, err = r.Peek(6); err != nil {
			return readErr(err)
		}
		if pp.ExtensionNumber(hdr[5]) == localMetadataID {
			return fmt.Errorf("%w: ut_metadata message too long: %d bytes, at most %d", ErrProtocol, length-2, maxMetadataMessage)
		}
	}
	return nil
}

// growReader returns a bigBuffer reader that goes on where r left off.
func growReader(r *bufio.Reader, nc net.Conn) *bufio.Reader {
	rest, _ := r.Peek(r.Buffered()) // already buffered: cannot fail
	return bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(rest)), nc), bigBuffer)
}

func readErr(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %v", ErrClosed, err)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: no message", ErrTimeout)
	}
	return fmt.Errorf("%w: %v", ErrProtocol, err)
}

// putBlock returns a block buffer from the decoder's pool.
func putBlock(b []byte) {
	if cap(b) == piece.BlockSize {
		b = b[:piece.BlockSize]
		blockPool.Put(&b)
	}
}
