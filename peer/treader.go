package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/bttspeed/bttspeed/piece"
)

// DefaultReadahead is a new Reader's readahead: the bytes ahead of it
// whose pieces it raises above the rest.
const DefaultReadahead = 4 << 20

// maxReadChunk is the most a Reader reads from storage at once (the
// storage's largest block read).
const maxReadChunk = 128 << 10

// Reader reads a torrent's data, or one file's, as it downloads: a read
// blocks until its first bytes are in a verified piece, and returns the
// verified bytes that follow, up to the buffer's length. Reading or seeking
// raises the priority of the pieces under the reader and within its
// readahead; each Reader of a torrent has its own window. A Reader made
// before the info is known blocks its reads (and a Seek from the end)
// until it is; once every piece is verified, reads are plain file reads.
//
// Read, ReadContext and Seek are for one goroutine at a time; the setters
// and Close are safe from any goroutine. A Reader must be closed, or its
// window keeps its pieces raised.
type Reader struct {
	t    *Torrent
	file *File // nil: the whole torrent
	done chan struct{}
	once sync.Once

	// Guarded by the torrent's embedState.rmu, as the loop reads them.
	pos        int64 // within the file or torrent
	readahead  int64
	responsive bool
	want       int64 // the length of the read in progress, so its pieces are raised even past the readahead
	ctx        context.Context
	posted     [2]int // the window's first and last piece when last posted
	// The playback rate: set (SetPlaybackRate), or measured over windows
	// of at least rateWindow of reading.
	playback  int64
	measured  int64
	rateFrom  time.Time
	rateBytes int64
}

// rateWindow is the least time a reader's consumption rate is measured
// over.
const rateWindow = 5 * time.Second

// SetPlaybackRate tells the torrent how fast the reader's data is consumed,
// in bytes per second (a video's bitrate), for Torrent.StreamState; zero
// goes back to measuring it from the reads.
func (r *Reader) SetPlaybackRate(bytesPerSecond int64) {
	e := r.t.embed()
	e.rmu.Lock()
	r.playback = max(bytesPerSecond, 0)
	e.rmu.Unlock()
}

// consumed counts n bytes read now, towards the measured rate. Called with
// rmu held.
func (r *Reader) consumed(n int64, now time.Time) {
	if r.rateFrom.IsZero() {
		r.rateFrom = now
	}
	r.rateBytes += n
	if d := now.Sub(r.rateFrom); d >= rateWindow {
		rate := int64(float64(r.rateBytes) / d.Seconds())
		if r.measured == 0 {
			r.measured = rate
		} else {
			r.measured = (r.measured + rate) / 2
		}
		r.rateFrom, r.rateBytes = now, 0
	}
}

// rate returns the reader's playback rate. Called with rmu held.
func (r *Reader) rate() int64 {
	if r.playback > 0 {
		return r.playback
	}
	return r.measured
}

// NewReader returns a Reader of the whole torrent at offset 0.
func (t *Torrent) NewReader() *Reader { return t.newReader(nil) }

// NewReader returns a Reader of the file at offset 0.
func (f *File) NewReader() *Reader { return f.t.newReader(f) }

func (t *Torrent) newReader(f *File) *Reader {
	r := &Reader{t: t, file: f, done: make(chan struct{}), readahead: DefaultReadahead, ctx: context.Background(), posted: [2]int{-1, -1}}
	e := t.embed()
	e.rmu.Lock()
	e.readers[r] = struct{}{}
	e.rmu.Unlock()
	r.moved()
	return r
}

// SetReadahead sets how many bytes ahead of the reader are raised (at
// least one byte: the piece under the reader is always raised).
func (r *Reader) SetReadahead(n int64) {
	e := r.t.embed()
	e.rmu.Lock()
	r.readahead = max(n, 1)
	e.rmu.Unlock()
	r.moved()
}

// SetResponsive trades bandwidth for latency: the piece under the reader
// is raised to PiecePriorityNow, whose blocks are asked of a second peer
// when the first is slow to send them; without it (the default) that piece
// is PiecePriorityNext. Either way a read returns only verified bytes.
func (r *Reader) SetResponsive() { r.setResponsive(true) }

// SetNonResponsive undoes SetResponsive.
func (r *Reader) SetNonResponsive() { r.setResponsive(false) }

func (r *Reader) setResponsive(on bool) {
	e := r.t.embed()
	e.rmu.Lock()
	changed := r.responsive != on
	r.responsive = on
	if changed {
		r.posted = [2]int{-1, -1}
	}
	e.rmu.Unlock()
	r.moved()
}

// SetContext sets the context Read uses (default: context.Background()).
func (r *Reader) SetContext(ctx context.Context) {
	e := r.t.embed()
	e.rmu.Lock()
	r.ctx = ctx
	e.rmu.Unlock()
}

// Read reads at the reader's position with its context (SetContext).
func (r *Reader) Read(p []byte) (int, error) {
	e := r.t.embed()
	e.rmu.Lock()
	ctx := r.ctx
	e.rmu.Unlock()
	return r.ReadContext(ctx, p)
}

// ReadContext reads at the reader's position: it waits, until ctx ends,
// for the piece under the reader to verify, then returns the verified
// bytes from there, at most len(p). It returns io.EOF at the end of the
// file or torrent, and ErrClosed once the reader or the torrent is closed.
func (r *Reader) ReadContext(ctx context.Context, p []byte) (int, error) {
	select {
	case <-r.done:
		return 0, ErrClosed
	default:
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := r.waitInfo(ctx); err != nil {
		return 0, err
	}
	base, length := r.span()
	e := r.t.embed()
	e.rmu.Lock()
	pos := r.pos
	e.rmu.Unlock()
	if pos >= length {
		return 0, io.EOF
	}
	n := min(int64(len(p)), length-pos)
	r.setWant(n)
	defer r.setWant(0)
	l := r.t.layout0()
	lo := base + pos
	first := int(lo / l.PieceLength)
	if err := e.have.wait(ctx, r.done, r.t.ctx.Done(), first); err != nil {
		return 0, fmt.Errorf("peer: read at %d: %w", pos, err)
	}
	// The verified pieces from there on.
	hi := lo + n
	for i := first + 1; int64(i)*l.PieceLength < hi; i++ {
		if ok, _ := e.have.has(i); !ok {
			hi = int64(i) * l.PieceLength
			break
		}
	}
	read, err := r.readAt(l, p[:hi-lo], lo)
	e.rmu.Lock()
	r.pos = pos + int64(read)
	r.consumed(int64(read), time.Now())
	e.rmu.Unlock()
	r.moved()
	return read, err
}

// readAt reads len(p) bytes at torrent offset off, all in verified pieces.
func (r *Reader) readAt(l piece.Layout, p []byte, off int64) (int, error) {
	st := r.t.storage()
	done := 0
	for done < len(p) {
		at := off + int64(done)
		i := int(at / l.PieceLength)
		begin := at - int64(i)*l.PieceLength
		k := int(min(int64(len(p)-done), l.PieceSize(i)-begin, maxReadChunk))
		b := piece.Block{Piece: i, Begin: uint32(begin), Length: uint32(k)}
		if err := st.ReadBlock(b, p[done:done+k]); err != nil {
			if r.t.ctx.Err() != nil {
				err = ErrClosed
			}
			return done, fmt.Errorf("peer: read at %d: %w", at, err)
		}
		done += k
	}
	return done, nil
}

// Seek sets the position for the next read (io.Seeker). Seeking from the
// end waits for the info; a position past the end is allowed and reads
// io.EOF.
func (r *Reader) Seek(off int64, whence int) (int64, error) {
	e := r.t.embed()
	e.rmu.Lock()
	pos := r.pos
	e.rmu.Unlock()
	switch whence {
	case io.SeekStart:
		pos = off
	case io.SeekCurrent:
		pos += off
	case io.SeekEnd:
		if err := r.waitInfo(context.Background()); err != nil {
			return 0, err
		}
		_, length := r.span()
		pos = length + off
	default:
		return 0, fmt.Errorf("peer: seek: whence %d", whence)
	}
	if pos < 0 {
		return 0, errors.New("peer: seek to a negative position")
	}
	e.rmu.Lock()
	r.pos = pos
	e.rmu.Unlock()
	r.moved()
	return pos, nil
}

// Close releases the reader's window. Reads in progress return ErrClosed.
func (r *Reader) Close() error {
	r.once.Do(func() {
		close(r.done)
		e := r.t.embed()
		e.rmu.Lock()
		delete(e.readers, r)
		e.rmu.Unlock()
		r.post()
	})
	return nil
}

func (r *Reader) waitInfo(ctx context.Context) error {
	select {
	case <-r.t.gotInfo:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("peer: waiting for the info: %w", ctx.Err())
	case <-r.done:
		return ErrClosed
	case <-r.t.ctx.Done():
		return ErrClosed
	}
}

// span returns where the reader's data starts in the torrent and its
// length; the info must be known.
func (r *Reader) span() (base, length int64) {
	if r.file != nil {
		return r.file.offset, r.file.length
	}
	return 0, r.t.layout0().Length
}

func (r *Reader) setWant(n int64) {
	e := r.t.embed()
	e.rmu.Lock()
	r.want = n
	e.rmu.Unlock()
	r.moved()
}

// window returns the pieces the reader raises, first to last (last <
// first: none), and the priority of the first. Called with rmu held, once
// the info is known.
func (r *Reader) window(l piece.Layout) (first, last int, under PiecePriority) {
	base, length := r.span()
	if l.PieceLength <= 0 || r.pos >= length {
		return 0, -1, PiecePriorityNone
	}
	end := base + min(length, r.pos+max(r.readahead, r.want))
	first = int((base + r.pos) / l.PieceLength)
	last = int((end - 1) / l.PieceLength)
	under = PiecePriorityNext
	if r.responsive {
		under = PiecePriorityNow
	}
	return first, last, under
}

// moved tells the loop the reader's window may have moved, if it has.
func (r *Reader) moved() {
	select {
	case <-r.t.gotInfo:
	default:
		return // initFiles applies every reader's window
	}
	l := r.t.layout0()
	e := r.t.embed()
	e.rmu.Lock()
	first, last, _ := r.window(l)
	same := r.posted == [2]int{first, last}
	r.posted = [2]int{first, last}
	e.rmu.Unlock()
	if !same {
		r.post()
	}
}

// post asks the loop to re-apply the readers' windows, unless a request
// is already pending.
func (r *Reader) post() {
	e := r.t.embed()
	if e.readersDirty.Swap(true) {
		return
	}
	if !r.t.postFunc(r.t.applyReaders) {
		e.readersDirty.Store(false)
	}
}

// applyReaders recomputes the priorities readers give pieces and applies
// the changes to the picker. Loop state.
func (t *Torrent) applyReaders() {
	e := t.embed()
	e.readersDirty.Store(false)
	if t.picker == nil {
		return
	}
	next := make(map[int]PiecePriority, len(e.readerPrio))
	e.rmu.Lock()
	for r := range e.readers {
		first, last, under := r.window(t.layout)
		for i := first; i <= last; i++ {
			p := PiecePriorityReadahead
			switch i {
			case first:
				p = under
			case first + 1:
				p = PiecePriorityNext
			}
			next[i] = max(next[i], p)
		}
	}
	e.rmu.Unlock()
	old := e.readerPrio
	e.readerPrio = next
	changed := false
	for i, p := range next {
		if old[i] != p {
			t.picker.SetPriority(i, t.piecePrio(i))
			changed = true
		}
	}
	for i := range old {
		if _, ok := next[i]; !ok {
			t.picker.SetPriority(i, t.piecePrio(i))
			changed = true
		}
	}
	if changed {
		t.prioritiesChanged()
	}
}

// StreamState is what a buyer bidding for a stream's playhead needs
// (bidding.Stream): the bytes verified and contiguous ahead of the neediest
// reader, and its playback rate.
type StreamState struct {
	// Buffered is the bytes verified from the reader's position on,
	// without a gap, up to the end of its file or torrent.
	Buffered int64
	// Rate is its playback rate in bytes per second (Reader.SetPlaybackRate,
	// or measured from its reads); zero: no reader with a known rate.
	Rate int64
	// Readers is how many readers are open.
	Readers int
}

// StreamState returns the state of the torrent's readers for a buyer: of
// the open readers with a known rate and data still ahead, the one whose
// buffer lasts the least time (zero StreamState if none). Safe from any
// goroutine.
func (t *Torrent) StreamState() StreamState {
	select {
	case <-t.gotInfo:
	default:
		return StreamState{Readers: t.readerCount()}
	}
	l := t.layout0()
	e := t.embed()
	e.rmu.Lock()
	type win struct{ from, end, rate int64 }
	wins := make([]win, 0, len(e.readers))
	for r := range e.readers {
		base, length := r.span()
		if rate := r.rate(); rate > 0 && r.pos < length {
			wins = append(wins, win{base + r.pos, base + length, rate})
		}
	}
	n := len(e.readers)
	e.rmu.Unlock()
	best := StreamState{Readers: n}
	bestSecs := -1.0
	for _, w := range wins {
		buf := e.have.contiguous(l, w.from, w.end)
		if secs := float64(buf) / float64(w.rate); bestSecs < 0 || secs < bestSecs {
			best.Buffered, best.Rate, bestSecs = buf, w.rate, secs
		}
	}
	return best
}

func (t *Torrent) readerCount() int {
	e := t.embed()
	e.rmu.Lock()
	defer e.rmu.Unlock()
	return len(e.readers)
}
