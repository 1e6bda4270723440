package peer

import (
	"context"
	"sync"
	"sync/atomic"

	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/piece"
)

// embedState is a torrent's state for the embedding API: files, readers
// and the priorities they set.
type embedState struct {
	// files is set on the loop before GotInfo closes, read-only after.
	files []*File

	// Loop state: the priority readers give each piece under or ahead of
	// one (absent: none); the connections a PeerConnected was published
	// for, whose PeerDropped is owed.
	readerPrio map[int]PiecePriority
	live       map[*conn]bool

	// Safe from any goroutine.
	have       haveSet
	wantedLeft atomic.Int64

	pause      pauseState
	sequential atomic.Bool
	upLimit    atomic.Pointer[rate.Limiter] // Torrent.SetRateLimits
	downLimit  atomic.Pointer[rate.Limiter]

	rmu     sync.Mutex // guards readers and each Reader's window fields
	readers map[*Reader]struct{}
	// readersDirty is set when a reader's window moved and a call to
	// applyReaders is posted to the loop; the loop clears it first.
	readersDirty atomic.Bool
}

func newEmbedState() *embedState {
	return &embedState{
		readerPrio: make(map[int]PiecePriority),
		readers:    make(map[*Reader]struct{}),
		have:       haveSet{changed: make(chan struct{})},
		live:       make(map[*conn]bool),
		pause:      newPauseState(),
	}
}

func (t *Torrent) embed() *embedState { return t.emb }

// haveSet is the verified pieces, for goroutines other than the loop
// (readers, File.BytesCompleted). changed is closed and replaced each time
// a piece is added.
type haveSet struct {
	mu      sync.Mutex
	bf      piece.Bitfield
	changed chan struct{}
}

func (h *haveSet) reset(bf piece.Bitfield) {
	h.mu.Lock()
	h.bf = bf
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

func (h *haveSet) set(i int) {
	h.mu.Lock()
	h.bf.Set(i)
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// has reports whether piece i is verified, and if not returns a channel
// closed at the next change.
func (h *haveSet) has(i int) (bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bf.Has(i), h.changed
}

// wait blocks until piece i is verified, ctx ends, or stop or stop2
// closes (then it returns ErrClosed).
func (h *haveSet) wait(ctx context.Context, stop, stop2 <-chan struct{}, i int) error {
	for {
		ok, changed := h.has(i)
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return ErrClosed
		case <-stop2:
			return ErrClosed
		}
	}
}

// bytesIn returns the bytes of torrent range [lo, hi) in verified pieces.
func (h *haveSet) bytesIn(l piece.Layout, lo, hi int64) int64 {
	if l.PieceLength <= 0 || hi <= lo {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var n int64
	for i := int(lo / l.PieceLength); int64(i)*l.PieceLength < hi && i < l.NumPieces(); i++ {
		if h.bf.Has(i) {
			plo := int64(i) * l.PieceLength
			n += min(hi, plo+l.PieceSize(i)) - max(lo, plo)
		}
	}
	return n
}

// contiguous returns the bytes of verified pieces from torrent offset
// from on, without a gap, up to end.
func (h *haveSet) contiguous(l piece.Layout, from, end int64) int64 {
	if l.PieceLength <= 0 || end <= from {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i := int(from / l.PieceLength)
	for i < l.NumPieces() && int64(i)*l.PieceLength < end && h.bf.Has(i) {
		i++
	}
	return max(0, min(end, int64(i)*l.PieceLength)-from)
}
