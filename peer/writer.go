package peer

import (
	"bufio"
	"fmt"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/bttspeed/bttspeed/piece"
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
				if it.chokes != c.chokes.Load() {
					err = c.dropChoked(w, it)
					batch[i] = outItem{}
					if err != nil {
						c.close(fmt.Errorf("write: %w", err))
						return
					}
					continue
				}
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
				if it.chokes != c.chokes.Load() {
					// Choked while the flush or the rate cap kept us
					// (a 30 s wait under a low cap): checked again
					// right before the block goes, so that no block
					// begins after a choke. Its tokens stay spent.
					err = c.dropChoked(w, it)
				} else {
					err = c.writeBlock(w, &hdr, it.block, it.free)
				}
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

// dropChoked drops a block queued before a choke and taken by the writer
// before the loop could take it back (unserve): the choke holds for it
// too. A fast peer is told (BEP 6); an allowed-fast block it still wants,
// it asks again.
func (c *conn) dropChoked(w *bufio.Writer, it outItem) error {
	if !c.fast {
		return nil
	}
	_, err := w.Write(msgBlock(pp.Reject, it.block))
	return err
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

// throttle waits, if the torrent or the client caps its upload rate, until
// n more bytes may go; what is buffered is flushed first, so the peer is not kept
// waiting for it. It returns false if the connection closed meanwhile.
func (c *conn) throttle(w *bufio.Writer, n int) bool {
	if lim := c.t.emb.upLimit.Load(); lim != nil {
		// The torrent's own cap (Torrent.SetRateLimits).
		if lim.Tokens() < float64(n) {
			if err := w.Flush(); err != nil {
				c.close(fmt.Errorf("write: %w", err))
				return false
			}
		}
		if !waitLimit(lim, n, c.closed) {
			return false
		}
	}
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
