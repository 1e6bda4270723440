package peer

import (
	"sort"
	"strings"
	"sync/atomic"

	"github.com/bttspeed/bttspeed/piece"
)

// PiecePriority says how much a piece, or a file's pieces, are wanted; the
// names and order are anacrolix's (types.PiecePriority).
type PiecePriority = piece.Priority

// Piece priorities, lowest first. A file set to PiecePriorityNone has its
// pieces never requested, except those it shares with a wanted file (the
// pieces at its ends). Readers raise the pieces under and ahead of them to
// PiecePriorityNow, Next and Readahead.
const (
	PiecePriorityNone      = piece.PriorityNone
	PiecePriorityNormal    = piece.PriorityNormal
	PiecePriorityHigh      = piece.PriorityHigh
	PiecePriorityReadahead = piece.PriorityReadahead
	PiecePriorityNext      = piece.PriorityNext
	PiecePriorityNow       = piece.PriorityNow
)

// File is one file of a torrent. Its methods are safe from any goroutine.
type File struct {
	t           *Torrent
	index       int
	path        string
	displayPath string
	offset      int64
	length      int64
	padding     bool
	prio        atomic.Int32
}

// Torrent returns the torrent the file belongs to.
func (f *File) Torrent() *Torrent { return f.t }

// Index returns the file's index in the info's file list.
func (f *File) Index() int { return f.index }

// Path returns the file's path with "/" separators, starting with the
// torrent's name for a torrent of several files (anacrolix's File.Path).
func (f *File) Path() string { return f.path }

// DisplayPath returns the path within the torrent: the name of a
// single-file torrent, the path below its directory otherwise.
func (f *File) DisplayPath() string { return f.displayPath }

// Offset returns where the file starts in the torrent's data.
func (f *File) Offset() int64 { return f.offset }

// Length returns the file's length in bytes.
func (f *File) Length() int64 { return f.length }

// Padding reports whether the file is a BEP 47 padding file: never wanted
// for itself, whatever its priority.
func (f *File) Padding() bool { return f.padding }

// Priority returns the file's priority.
func (f *File) Priority() PiecePriority { return PiecePriority(f.prio.Load()) }

// SetPriority sets the file's priority; the pieces it spans take the
// highest priority of the files they hold (and of readers over them). It
// returns at once; the torrent's loop applies it. An invalid priority is
// ignored.
func (f *File) SetPriority(p PiecePriority) {
	if !p.Valid() || PiecePriority(f.prio.Swap(int32(p))) == p {
		return
	}
	f.t.postFunc(func() { f.t.applyFiles(f.offset, f.offset+f.length) })
}

// Download sets the file's priority to PiecePriorityNormal (anacrolix's
// File.Download).
func (f *File) Download() { f.SetPriority(PiecePriorityNormal) }

// BytesCompleted returns the bytes of the file in verified pieces.
func (f *File) BytesCompleted() int64 {
	return f.t.embed().have.bytesIn(f.t.layout0(), f.offset, f.offset+f.length)
}

// Files returns the torrent's files in the info's order (nil before the
// info is known: see GotInfo).
func (t *Torrent) Files() []*File {
	select {
	case <-t.gotInfo:
	default:
		return nil
	}
	return append([]*File(nil), t.embed().files...)
}

// layout0 returns the layout once the info is known (zero before); safe
// from any goroutine.
func (t *Torrent) layout0() piece.Layout {
	if st := t.storage(); st != nil {
		return st.Layout()
	}
	return piece.Layout{}
}

// initFiles builds the file list and applies the initial priorities
// (TorrentSpec.FilePriority); called on the loop as the info is installed,
// before GotInfo closes.
func (t *Torrent) initFiles() {
	e := t.embed()
	view, err := piece.V1View(t.info) // checked by start: cannot fail
	if err != nil {
		view = t.info
	}
	multi := len(view.Files) != 0
	var off int64
	for i, fi := range view.UpvertedFiles() {
		f := &File{t: t, index: i, offset: off, length: fi.Length}
		f.path = view.BestName()
		f.displayPath = f.path
		if multi {
			f.displayPath = strings.Join(fi.BestPath(), "/")
			f.path += "/" + f.displayPath
		}
		f.padding = piece.IsPadding(fi)
		p := PiecePriorityNormal
		if t.spec.FilePriority != nil {
			if q := t.spec.FilePriority(i, f.path); q.Valid() {
				p = q
			}
		}
		f.prio.Store(int32(p))
		e.files = append(e.files, f)
		off += fi.Length
	}
	e.have.reset(t.picker.Have())
	t.picker.SetSequential(e.sequential.Load())
	t.applyFiles(0, t.layout.Length)
	t.applyReaders()
	if t.spec.Magnet != "" && t.subscribed() {
		t.Publish(MetadataReceived{InfoHash: t.ih})
	}
}

// filesAt returns the index of the first file that ends after offset off.
func (e *embedState) filesAt(off int64) int {
	return sort.Search(len(e.files), func(i int) bool { return e.files[i].offset+e.files[i].length > off })
}

// piecePrio returns the priority piece i should have: the highest of the
// files it holds (padding files and empty files aside) and of the readers
// over it. Loop state.
func (t *Torrent) piecePrio(i int) PiecePriority {
	if t.disk != nil && t.disk.v2 != nil && !t.disk.v2.Known(i) {
		return PiecePriorityNone // its hash is still to come (hashes.go)
	}
	e := t.embed()
	lo := int64(i) * t.layout.PieceLength
	hi := lo + t.layout.PieceSize(i)
	p := e.readerPrio[i]
	for k := e.filesAt(lo); k < len(e.files) && e.files[k].offset < hi; k++ {
		if f := e.files[k]; !f.padding && f.length > 0 {
			p = max(p, f.Priority())
		}
	}
	return p
}

// applyFiles re-prioritises the pieces spanning torrent bytes [lo, hi)
// after a change of file priorities. Loop state.
func (t *Torrent) applyFiles(lo, hi int64) {
	if t.picker == nil || t.layout.PieceLength <= 0 {
		return
	}
	first := int(lo / t.layout.PieceLength)
	last := min(int((hi+t.layout.PieceLength-1)/t.layout.PieceLength), t.layout.NumPieces())
	for i := first; i < last; i++ {
		t.picker.SetPriority(i, t.piecePrio(i))
	}
	e := t.embed()
	if st := t.storage(); st != nil {
		st.SetWantedFiles(func(k int) bool {
			return k < len(e.files) && !e.files[k].padding && e.files[k].Priority() != PiecePriorityNone
		})
	}
	t.prioritiesChanged()
}

// prioritiesChanged makes the engine act on new piece priorities: interest
// in each peer, requests, and what is left to buy.
func (t *Torrent) prioritiesChanged() {
	was := t.embed().wantedLeft.Swap(t.picker.WantedLeft())
	if was > 0 && t.picker.WantedComplete() && t.subscribed() {
		t.Publish(WantedComplete{InfoHash: t.ih})
	}
	for _, c := range t.conns {
		t.updateInterest(c)
	}
	t.fillAll()
}

// WantedLeft returns the bytes of wanted pieces still to download (any
// priority but PiecePriorityNone; -1 before the info is known). It is what
// a buyer still pays for; Left counts every piece. Safe from any goroutine.
func (t *Torrent) WantedLeft() int64 {
	select {
	case <-t.gotInfo:
		return t.embed().wantedLeft.Load()
	default:
		return -1
	}
}

// pieceVerified updates the state readers and files see after piece i
// verified. Loop state.
func (t *Torrent) pieceVerified(i int) {
	e := t.embed()
	e.have.set(i)
	was := e.wantedLeft.Swap(t.picker.WantedLeft())
	if !t.subscribed() {
		return
	}
	t.Publish(PieceVerified{InfoHash: t.ih, Piece: i})
	if was > 0 && t.picker.WantedComplete() {
		t.Publish(WantedComplete{InfoHash: t.ih})
	}
	if t.picker.Complete() {
		t.Publish(TorrentComplete{InfoHash: t.ih})
	}
}
