package peer

import (
	"fmt"

	"github.com/bttspeed/bttspeed/piece"
)

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
	c.queue = append(c.queue, outItem{serve: true, free: free, block: b, chokes: c.chokes.Load()})
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
