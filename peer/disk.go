package peer

import (
	"crypto/sha1"
	"hash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bttspeed/bttspeed/piece"
)

// diskJob writes a received block, or (verify) hashes a finished piece.
type diskJob struct {
	verify bool
	// blockHashes asks for the piece's block hashes even if it verifies
	// (it failed before: the smart ban compares them).
	blockHashes bool
	block       piece.Block
	data        []byte
	// Results of a verify job.
	ok     bool
	hashes [][20]byte
}

// diskQueue runs block writes and piece hashes off the torrent's loop. Jobs
// of one piece go to one worker in order, so a piece is hashed only after
// its writes. The queues are unbounded, but every block in them answers a
// request we made, so their size is bounded by the requests in flight;
// and a connection's reader reads no block while they hold more than
// diskReaderHigh (waitRoom), so the blocks in flight past that wait in
// the kernel's socket buffers, not in our heap.
type diskQueue struct {
	workers []*diskWorker
	// pending counts the bytes of blocks queued and not yet written. Past
	// diskHigh the torrent stops requesting; below diskLow it resumes
	// (resume is posted by the worker). Memory stays bounded however
	// fast the network is and however slow the disk.
	pending atomic.Int64
	stalled atomic.Bool
	resume  func()
	// room, while a connection's reader waits for the queue to drain
	// (waitRoom), is closed by the worker that takes pending below
	// diskLow; nil when no reader waits.
	roomMu sync.Mutex
	room   chan struct{}
	// waiting counts the readers in waitRoom, and released is when one
	// last left it (unix nanoseconds; 0: never): see readersHeld.
	waiting  atomic.Int32
	released atomic.Int64
	// readBack counts the pieces verified by reading them back.
	readBack atomic.Int64
	hashes   sync.Pool // of SHA-1 states
	// pad is the torrent's BEP 47 padding: its blocks are never received
	// nor written, and a piece hashed on the way takes zeros for them.
	// Set before the first push, never after.
	pad piece.Padding
	// v2, for a pure v2 torrent, verifies pieces by their merkle hashes:
	// they are read back, not hashed on the way (nil for v1 and hybrid
	// torrents, verified by SHA-1). Set before the first push.
	v2 *piece.V2Hashes
	// asked, while some of v2's piece layers are missing, holds what
	// peers were asked for them (hashes_ask.go); nil once all are known
	// and no request of ours is left unanswered.
	// Loop state: it lives here, beside v2, for want of a torrent field.
	asked *hashAsks
	// served answers peers' hash requests: v2, or a hybrid's layers from
	// its .torrent (nil: every request is rejected). Loop state.
	served *piece.V2Hashes
}

func (q *diskQueue) newHash() hash.Hash {
	if h, ok := q.hashes.Get().(hash.Hash); ok {
		h.Reset()
		return h
	}
	return sha1.New()
}

func (q *diskQueue) putHash(h hash.Hash) { q.hashes.Put(h) }

// The disk queue's watermarks, in bytes.
const (
	diskHigh = 8 << 20
	diskLow  = 2 << 20
)

// diskReaderHigh is the queue above which a connection's reader stops
// reading blocks until the queue is below diskLow: blocks requested before
// the torrent stopped requesting (at diskHigh) wait in the socket's
// buffers (the kernel's, and TCP slows the peer) rather than in ours. A
// reader reads at most one block past it, so the queue holds at most
// diskReaderHigh and a block per connection, plus what the loop's event
// queue holds. At 4 MiB rather than diskHigh, a 4 GiB download past the
// kernel's dirty-page limit ran 20-40% slower (the worker, let go by
// writeback, found too little queued; docs/PERFORMANCE.md).
const diskReaderHigh = diskHigh

// waitRoom waits, if the queue is above diskReaderHigh, until it is below
// diskLow; it reports false if closed or done closed first.
func (q *diskQueue) waitRoom(closed, done <-chan struct{}) bool {
	for q.pending.Load() > diskReaderHigh {
		q.roomMu.Lock()
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.roomMu.Unlock()
		// Look again now that room is set: a worker that drained the
		// queue before saw no room to close.
		if q.pending.Load() <= diskReaderHigh {
			return true
		}
		q.waiting.Add(1)
		var ok bool
		select {
		case <-room:
			ok = true
		case <-closed:
		case <-done:
		}
		q.waiting.Add(-1)
		q.released.Store(time.Now().UnixNano())
		if !ok {
			return false
		}
	}
	return true
}

// readersHeld reports whether a reader waits in waitRoom, or left it less
// than grace ago: the blocks that peers sent on time may then still wait
// in our sockets, late through our disk's fault, not theirs, and the
// requests they answer must not time out (the blocks would come in as
// unrequested: wasted, and the peer dropped past maxUnwanted).
func (q *diskQueue) readersHeld(now time.Time, grace time.Duration) bool {
	if q.waiting.Load() > 0 {
		return true
	}
	r := q.released.Load()
	return r != 0 && now.Sub(time.Unix(0, r)) < grace
}

// drained wakes the readers waiting in waitRoom, once the queue is below
// diskLow.
func (q *diskQueue) drained() {
	q.roomMu.Lock()
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	q.roomMu.Unlock()
}

// full reports whether the torrent should stop requesting for now.
func (q *diskQueue) full() bool {
	if q.pending.Load() > diskHigh {
		q.stalled.Store(true)
		return true
	}
	return false
}

// maxRun bounds the blocks coalesced into one write (1 MiB).
const maxRun = 64

type diskWorker struct {
	q      *diskQueue
	bufs   [][]byte
	mu     sync.Mutex
	cond   *sync.Cond
	jobs   []diskJob
	closed bool
	// start starts the worker's goroutine; started says it has been (a
	// seeding torrent that never writes never starts its workers).
	start   func()
	started bool
	// hashing holds, for the pieces being written in order from their
	// start, the SHA-1 of what has been written so far (worker state).
	hashing map[int]*pieceHash
}

// pieceHash is a piece hashed on its way to the disk: a piece whose blocks
// all came in order (as they do from one peer) is verified from the sum
// of what was written, without reading it back. h is nil once the piece
// has been written out of order: it is read back and hashed then.
type pieceHash struct {
	h    hash.Hash
	next int64 // bytes hashed from the piece's start
}

// maxHashing bounds the pieces hashed on the way at once per worker (a
// hundred bytes each): past it, pieces are read back to be hashed.
const maxHashing = 1024

// zeros is what padding hashes as.
var zeros [piece.BlockSize]byte

// padTo feeds ph the zeros of the padding between where it stopped and
// piece offset to, if that gap is all padding, and reports whether ph
// now reaches to.
func (w *diskWorker) padTo(l piece.Layout, i int, ph *pieceHash, to int64) bool {
	gap := to - ph.next
	if gap <= 0 || !w.q.pad.Covers(int64(i)*l.PieceLength+ph.next, gap) {
		return gap == 0
	}
	for ; gap > 0; gap -= min(gap, int64(len(zeros))) {
		ph.h.Write(zeros[:min(gap, int64(len(zeros)))])
	}
	ph.next = to
	return true
}

// hashRun feeds a run written at begin of piece i to its hash.
func (w *diskWorker) hashRun(l piece.Layout, i int, begin uint32, bufs [][]byte) {
	if w.q.v2 != nil {
		return // merkle hashes: read back
	}
	ph := w.hashing[i]
	if ph == nil {
		if len(w.hashing) >= maxHashing {
			return // read back
		}
		ph = &pieceHash{h: w.q.newHash()}
		if !w.padTo(l, i, ph, int64(begin)) {
			w.q.putHash(ph.h)
			return // not from the start: read back
		}
		w.hashing[i] = ph
	}
	if ph.h == nil {
		return
	}
	if !w.padTo(l, i, ph, int64(begin)) {
		// A gap or a block written again: the sum no longer says what
		// is on disk.
		w.q.putHash(ph.h)
		ph.h = nil
		return
	}
	for _, b := range bufs {
		ph.h.Write(b)
		ph.next += int64(len(b))
	}
}

// verify hashes piece i: from the sum of its writes if it was written
// whole and in order, else by reading it back.
func (w *diskWorker) verify(st *piece.Storage, i int) (bool, error) {
	if w.q.v2 != nil {
		w.q.readBack.Add(1)
		return st.VerifyPieceV2(i, w.q.v2)
	}
	ph := w.hashing[i]
	delete(w.hashing, i)
	if ph == nil || ph.h == nil {
		w.q.readBack.Add(1)
		return st.VerifyPiece(i)
	}
	defer w.q.putHash(ph.h)
	if !w.padTo(st.Layout(), i, ph, st.Layout().PieceSize(i)) {
		w.q.readBack.Add(1)
		return st.VerifyPiece(i)
	}
	var sum [20]byte
	ph.h.Sum(sum[:0])
	return st.CompletePiece(i, sum)
}

func newDiskQueue(n int, st *piece.Storage, done func(job diskJob, err error), resume func(), wg *sync.WaitGroup) *diskQueue {
	q := &diskQueue{resume: resume}
	for i := 0; i < n; i++ {
		w := &diskWorker{q: q, hashing: make(map[int]*pieceHash)}
		w.cond = sync.NewCond(&w.mu)
		w.start = func() { wg.Go(func() { w.run(st, done) }) }
		q.workers = append(q.workers, w)
	}
	return q
}

func (q *diskQueue) push(j diskJob) {
	q.pending.Add(int64(len(j.data)))
	w := q.workers[j.block.Piece%len(q.workers)]
	w.mu.Lock()
	w.jobs = append(w.jobs, j)
	start := !w.started
	w.started = true
	w.mu.Unlock()
	if start {
		// The first job: push runs on the loop, before its shutdown
		// waits for the torrent's goroutines.
		w.start()
		return
	}
	w.cond.Signal()
}

func (q *diskQueue) close() {
	for _, w := range q.workers {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.cond.Broadcast()
	}
}

func (w *diskWorker) run(st *piece.Storage, done func(job diskJob, err error)) {
	var batch []diskJob
	for {
		w.mu.Lock()
		for len(w.jobs) == 0 && !w.closed {
			w.cond.Wait()
		}
		if len(w.jobs) == 0 && w.closed {
			w.mu.Unlock()
			return
		}
		batch, w.jobs = w.jobs, batch[:0]
		w.mu.Unlock()
		for i := 0; i < len(batch); {
			j := batch[i]
			if j.verify {
				var err error
				j.ok, err = w.verify(st, j.block.Piece)
				if err == nil && (!j.ok || j.blockHashes) {
					j.hashes, err = st.BlockHashes(j.block.Piece)
				}
				done(j, err)
				batch[i] = diskJob{}
				i++
				continue
			}
			// Coalesce a run of consecutive blocks of one piece into one
			// write.
			k := i + 1
			end := j.block.Begin + uint32(len(j.data))
			for k < len(batch) && k-i < maxRun && !batch[k].verify && batch[k].block.Piece == j.block.Piece && batch[k].block.Begin == end {
				end += uint32(len(batch[k].data))
				k++
			}
			w.bufs = w.bufs[:0]
			var n int64
			for _, r := range batch[i:k] {
				w.bufs = append(w.bufs, r.data)
				n += int64(len(r.data))
			}
			err := st.WriteRun(j.block.Piece, j.block.Begin, w.bufs)
			if err == nil {
				w.hashRun(st.Layout(), j.block.Piece, j.block.Begin, w.bufs)
			}
			for x := i; x < k; x++ {
				putBlock(batch[x].data)
				batch[x] = diskJob{}
			}
			clear(w.bufs)
			if err != nil {
				done(j, err)
			}
			if left := w.q.pending.Add(-n); left < diskLow {
				w.q.drained()
				if w.q.stalled.CompareAndSwap(true, false) {
					w.q.resume()
				}
			}
			i = k
		}
	}
}
