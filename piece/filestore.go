package piece

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// fileClient is the default storage: an anacrolix storage.ClientImpl that
// keeps each file open for the torrent's life and reads and writes with
// pread/pwrite. anacrolix's own file storage opens and closes the file on
// every block written and, on every piece marked complete, reads the
// completion of every piece of the file (quadratic in the piece count), which
// together cost more than the transfer; this one does neither. Completion
// goes to the same anacrolix PieceCompletion (bbolt) store.
type fileClient struct {
	dir        string
	completion storage.PieceCompletion
}

func (fc fileClient) OpenTorrent(_ context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	ft, err := fc.open(info, ih)
	if err != nil {
		return storage.TorrentImpl{}, err
	}
	return ft.impl(), nil
}

func (fc fileClient) open(info *metainfo.Info, ih metainfo.Hash) (*fileTorrent, error) {
	if err := CheckInfo(info); err != nil {
		return nil, err
	}
	ft := &fileTorrent{info: info, ih: ih, completion: fc.completion}
	var off int64
	for _, f := range info.UpvertedFiles() {
		parts := []string{fc.dir, info.BestName()}
		if len(info.Files) != 0 {
			parts = append(parts, f.BestPath()...)
		}
		ft.files = append(ft.files, fileSpan{path: filepath.Join(parts...), off: off, length: f.Length, padding: IsPadding(f)})
		off += f.Length
	}
	ft.handles = make([]*os.File, len(ft.files))
	ft.sparse = make([]bool, len(ft.files))
	for i, f := range ft.files {
		ft.sparse[i] = f.padding // Prepare skips them
	}
	return ft, nil
}

func (ft *fileTorrent) impl() storage.TorrentImpl {
	return storage.TorrentImpl{
		Piece: func(p metainfo.Piece) storage.PieceImpl {
			return filePiece{t: ft, p: p.Index(), off: p.Offset(), length: p.Length()}
		},
		Close: ft.close,
	}
}

// writev writes bufs back to back at torrent offset off with as few
// pwritev calls as it can; a run that crosses files falls back to one write
// per file extent.
func (ft *fileTorrent) writev(off int64, bufs [][]byte) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	i := sort.Search(len(ft.files), func(i int) bool { return ft.files[i].off+ft.files[i].length > off })
	if i < len(ft.files) && off+int64(total) <= ft.files[i].off+ft.files[i].length {
		if ft.files[i].padding {
			return nil // zeros by definition: nothing to keep
		}
		f, err := ft.file(i)
		if err != nil {
			return err
		}
		return pwritev(f, bufs, off-ft.files[i].off)
	}
	for _, b := range bufs {
		err := ft.span(off, len(b), func(i int, fileOff int64, lo, hi int) error {
			if ft.files[i].padding {
				return nil
			}
			f, err := ft.file(i)
			if err != nil {
				return err
			}
			_, err = f.WriteAt(b[lo:hi], fileOff)
			return err
		})
		if err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}

// fileSpan is one file of the torrent. A padding file (BEP 47) is never
// opened nor created: it reads as zeros, and what is written to it is
// dropped (its bytes are zeros by the torrent's hashes, so whatever a peer
// sent there is either zeros or fails the piece's hash on the way).
// errPadding refuses to open a padding file: nothing is ever stored there.
var errPadding = errors.New("piece: padding file")

type fileSpan struct {
	path        string
	off, length int64
	padding     bool
}

type fileTorrent struct {
	info       *metainfo.Info
	ih         metainfo.Hash
	completion storage.PieceCompletion
	files      []fileSpan

	mu      sync.Mutex
	handles []*os.File
	sparse  []bool // files not preallocated: unwanted (see Storage.SetWantedFiles) and padding
	closed  bool
}

// file returns file i opened for reading and writing, creating it (and its
// directories) on first use.
func (t *fileTorrent) file(i int) (*os.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, os.ErrClosed
	}
	if f := t.handles[i]; f != nil {
		return f, nil
	}
	if t.files[i].padding {
		return nil, fmt.Errorf("%w: %s is a padding file", errPadding, t.files[i].path)
	}
	path := t.files[i].path
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if t.sparse != nil && t.sparse[i] {
		t.handles[i] = f
		return f, nil
	}
	if err := preallocate(f, t.files[i].length); err != nil {
		f.Close()
		return nil, fmt.Errorf("preallocate %s: %w", path, err)
	}
	t.handles[i] = f
	return f, nil
}

func (t *fileTorrent) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	var errs []error
	for i, f := range t.handles {
		if f != nil {
			errs = append(errs, f.Close())
			t.handles[i] = nil
		}
	}
	return errors.Join(errs...)
}

// span calls fn for each file extent of the torrent range [off, off+n).
func (t *fileTorrent) span(off int64, n int, fn func(file int, fileOff int64, lo, hi int) error) error {
	i := sort.Search(len(t.files), func(i int) bool { return t.files[i].off+t.files[i].length > off })
	done := 0
	for ; i < len(t.files) && done < n; i++ {
		f := t.files[i]
		if f.length == 0 {
			continue
		}
		fileOff := off + int64(done) - f.off
		k := int(min(int64(n-done), f.length-fileOff))
		if err := fn(i, fileOff, done, done+k); err != nil {
			return err
		}
		done += k
	}
	if done < n {
		return io.ErrUnexpectedEOF
	}
	return nil
}

type filePiece struct {
	t           *fileTorrent
	p           int
	off, length int64
}

func (fp filePiece) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= fp.length {
		return 0, io.EOF
	}
	n := 0
	want := min(int64(len(b)), fp.length-off)
	err := fp.t.span(fp.off+off, int(want), func(i int, fileOff int64, lo, hi int) error {
		if fp.t.files[i].padding {
			clear(b[lo:hi])
			n += hi - lo
			return nil
		}
		f, err := fp.t.file(i)
		if err != nil {
			return err
		}
		m, err := f.ReadAt(b[lo:hi], fileOff)
		n += m
		if m < hi-lo {
			if err == nil || err == io.EOF {
				return io.EOF // not written yet
			}
			return err
		}
		return nil
	})
	if err == nil && int64(n) < int64(len(b)) {
		err = io.EOF
	}
	return n, err
}

func (fp filePiece) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > fp.length {
		return 0, fmt.Errorf("write of %d bytes at %d outside piece %d of %d bytes", len(b), off, fp.p, fp.length)
	}
	n := 0
	err := fp.t.span(fp.off+off, len(b), func(i int, fileOff int64, lo, hi int) error {
		if fp.t.files[i].padding {
			n += hi - lo
			return nil
		}
		f, err := fp.t.file(i)
		if err != nil {
			return err
		}
		m, err := f.WriteAt(b[lo:hi], fileOff)
		n += m
		return err
	})
	return n, err
}

func (fp filePiece) key() metainfo.PieceKey { return metainfo.PieceKey{InfoHash: fp.t.ih, Index: fp.p} }

func (fp filePiece) MarkComplete() error    { return fp.t.completion.Set(fp.key(), true) }
func (fp filePiece) MarkNotComplete() error { return fp.t.completion.Set(fp.key(), false) }

func (fp filePiece) Completion() storage.Completion {
	c, err := fp.t.completion.Get(fp.key())
	if err != nil {
		return storage.Completion{Err: err}
	}
	return c
}
