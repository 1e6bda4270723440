package piece

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// Errors from Storage.
var (
	ErrUnsafePath = errors.New("piece: unsafe file path in torrent")
	ErrNoHashes   = errors.New("piece: torrent has no v1 piece hashes")
	ErrBlock      = errors.New("piece: block out of range")
)

// StorageConfig configures OpenStorage.
type StorageConfig struct {
	// Dir is where the torrent's files go: Dir/<name> for a single file,
	// Dir/<name>/<path…> for several.
	Dir string
	// Info is the torrent's info dictionary; InfoHash its hash.
	Info     *metainfo.Info
	InfoHash metainfo.Hash
	// Mmap selects anacrolix's mmap storage instead of file storage. Mapped
	// pages count towards the process's resident memory, so it suits small
	// torrents; file storage keeps memory flat at any size.
	Mmap bool
	// AnacrolixFile selects anacrolix's own file storage instead of ours
	// (see fileClient for why ours is the default).
	AnacrolixFile bool
	// CompletionDir is where the persistent piece-completion database
	// (bbolt) lives; empty means Dir. Torrents that name the same one
	// share one open database, for as long as any of them is open.
	CompletionDir string
}

// Storage holds a torrent's data: blocks read and written at their offsets,
// pieces verified by SHA-1 and their completion persisted. ReadBlock,
// WriteBlock and VerifyPiece are safe for concurrent use.
type Storage struct {
	ft         *fileTorrent // our file backend, if in use
	info       *metainfo.Info
	layout     Layout
	client     storage.ClientImplCloser
	torrent    storage.TorrentImpl
	completion storage.PieceCompletion
	completed  Bitfield
	bufs       sync.Pool
	closeOnce  sync.Once
	closeErr   error
}

// unflushedCompletion is a bbolt completion store that tells anacrolix's
// storage not to fsync a piece's files each time it is marked complete: an
// fsync per piece costs more than the transfer. Data reaches the disk
// through the page cache and at Close; a process crash loses nothing, and
// after a power loss Storage.VerifyAll rechecks what was marked complete.
type unflushedCompletion struct{ storage.PieceCompletion }

func (unflushedCompletion) Persistent() bool { return false }

// completions are the bbolt completion databases open in this process, by
// directory. Torrents whose CompletionDir is the same share one database,
// open while any of them is: bbolt locks its file, so a second open of it
// in one process would wait for the first to close, and a thousand
// torrents that share a directory cost one file, one mapping and one
// free list rather than a thousand.
var completions = struct {
	mu   sync.Mutex
	open map[string]*sharedCompletion
}{open: make(map[string]*sharedCompletion)}

// sharedCompletion is one open database and how many Storages use it.
type sharedCompletion struct {
	storage.PieceCompletion
	dir  string
	refs int
}

// completionRef is one Storage's use of a shared database; closing it
// closes the database once no Storage uses it.
type completionRef struct {
	*sharedCompletion
	once sync.Once
}

// openCompletion opens the database in dir, or takes another reference to
// it if it is open.
func openCompletion(dir string) (*completionRef, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	completions.mu.Lock()
	defer completions.mu.Unlock()
	sc := completions.open[abs]
	if sc == nil {
		pc, err := openBatchCompletion(abs)
		if err != nil {
			return nil, err
		}
		sc = &sharedCompletion{PieceCompletion: pc, dir: abs}
		completions.open[abs] = sc
	}
	sc.refs++
	return &completionRef{sharedCompletion: sc}, nil
}

// bindDir ties the torrent's verdicts in the database to its data
// directory (batchCompletion.bind), so that a torrent added in another
// directory than the one its pieces were verified in starts from nothing.
func bindDir(r *completionRef, ih metainfo.Hash, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if b, ok := r.PieceCompletion.(*batchCompletion); ok {
		return b.bind(ih, abs)
	}
	return nil
}

// Close drops this reference; the last one closes the database.
func (r *completionRef) Close() error {
	var err error
	r.once.Do(func() {
		completions.mu.Lock()
		defer completions.mu.Unlock()
		if r.refs--; r.refs == 0 {
			delete(completions.open, r.dir)
			err = r.PieceCompletion.Close()
		}
	})
	return err
}

// closerClient closes the completion store with the client.
type closerClient struct {
	storage.ClientImpl
	completion storage.PieceCompletion
}

func (c closerClient) Close() error { return c.completion.Close() }

// Limits on an info dictionary's shape.
const (
	// MaxPieceLength is the longest piece CheckInfo accepts: a piece is
	// tracked block by block and hashed whole, so a piece of a terabyte
	// would cost gigabytes of bookkeeping.
	MaxPieceLength = 512 << 20
	// maxComponent is the longest file or directory name (the limit of
	// most filesystems); maxPath bounds a file's whole path below the
	// download directory.
	maxComponent = 255
	maxPath      = 4000
)

// ErrUnsupported reports a well-formed torrent we cannot download.
var ErrUnsupported = errors.New("piece: unsupported torrent")

// onWindows turns on the checks for names only Windows treats specially.
var onWindows = runtime.GOOS == "windows"

// CheckInfo rejects info dictionaries that could write outside the download
// directory — a path component that is empty, "." or "..", only dots and
// spaces, absolute, with a separator, a drive letter, a NUL or another
// control character, longer than 255 bytes, or (on Windows) a device name
// — and those whose files collide (a path given twice, or a file where
// another needs a directory), whose lengths are negative or overflow, whose
// pieces are over MaxPieceLength, that lack v1 piece hashes, or that are
// hybrid v1/v2 torrents of several files (their v2 file layout is not the
// v1 one the hashes cover).
func CheckInfo(info *metainfo.Info) error {
	if info == nil {
		return fmt.Errorf("%w: no info", ErrUnsafePath)
	}
	// First: anacrolix's v2 file list divides by the piece length.
	if info.PieceLength <= 0 || info.PieceLength > MaxPieceLength {
		return fmt.Errorf("%w: piece length %d, want 1 to %d", ErrUnsupported, info.PieceLength, MaxPieceLength)
	}
	if err := checkComponent(info.BestName()); err != nil {
		return fmt.Errorf("%w: name: %v", ErrUnsafePath, err)
	}
	if info.HasV2() && (len(info.Files) > 0 || len(info.UpvertedFiles()) > 1) {
		return fmt.Errorf("%w: a v2 or hybrid torrent of several files (only v1 file layouts are supported)", ErrUnsupported)
	}
	var total int64
	add := func(n int64) error {
		if n < 0 || total > math.MaxInt64-n {
			return fmt.Errorf("%w: file length %d (total so far %d)", ErrUnsupported, n, total)
		}
		total += n
		return nil
	}
	if len(info.Files) == 0 {
		if err := add(info.Length); err != nil {
			return err
		}
	}
	files := make(map[string]bool, len(info.Files))
	dirs := make(map[string]bool)
	for i, f := range info.Files {
		if err := add(f.Length); err != nil {
			return fmt.Errorf("file %d: %w", i, err)
		}
		path := f.BestPath()
		if len(path) == 0 {
			return fmt.Errorf("%w: file %d has an empty path", ErrUnsafePath, i)
		}
		n := len(info.BestName())
		for _, c := range path {
			if err := checkComponent(c); err != nil {
				return fmt.Errorf("%w: file %d: %v", ErrUnsafePath, i, err)
			}
			n += 1 + len(c)
		}
		if n > maxPath {
			return fmt.Errorf("%w: file %d: a path of %d bytes", ErrUnsafePath, i, n)
		}
		if strings.Contains(f.Attr, "p") {
			continue // BEP 47 padding: never read, and pads of one size share a name
		}
		key := strings.Join(path, "/")
		if files[key] || dirs[key] {
			return fmt.Errorf("%w: file %d: %q is given twice, or is also a directory", ErrUnsafePath, i, key)
		}
		files[key] = true
		for j := 1; j < len(path); j++ {
			dir := strings.Join(path[:j], "/")
			if files[dir] {
				return fmt.Errorf("%w: file %d: %q is a file and a directory", ErrUnsafePath, i, dir)
			}
			dirs[dir] = true
		}
	}
	if len(info.Pieces) == 0 || len(info.Pieces)%20 != 0 {
		return fmt.Errorf("%w: piece length %d, %d bytes of hashes", ErrNoHashes, info.PieceLength, len(info.Pieces))
	}
	if want := LayoutOf(info).NumPieces(); len(info.Pieces)/20 != want {
		return fmt.Errorf("%w: %d hashes for %d pieces", ErrNoHashes, len(info.Pieces)/20, want)
	}
	return nil
}

// windowsDevices are the names Windows takes for devices, with any
// extension.
var windowsDevices = map[string]bool{"CON": true, "PRN": true, "AUX": true, "NUL": true, "CONIN$": true, "CONOUT$": true}

func init() {
	for i := '1'; i <= '9'; i++ {
		windowsDevices["COM"+string(i)] = true
		windowsDevices["LPT"+string(i)] = true
	}
}

// checkComponent says what is wrong with a path component, if anything.
func checkComponent(c string) error {
	switch {
	case strings.Trim(c, ". ") == "":
		// "", ".", ".." and what Windows trims to them ("...", ". ").
		return fmt.Errorf("component %q", c)
	case len(c) > maxComponent:
		return fmt.Errorf("component of %d bytes, more than %d", len(c), maxComponent)
	case strings.ContainsAny(c, "/\\"), filepath.IsAbs(c), filepath.VolumeName(c) != "":
		return fmt.Errorf("component %q", c)
	case len(c) >= 2 && c[1] == ':' && ('a' <= c[0]|0x20 && c[0]|0x20 <= 'z'):
		return fmt.Errorf("component %q starts with a drive letter", c)
	case strings.IndexFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("component %q has a control character", c)
	}
	if onWindows {
		base, _, _ := strings.Cut(c, ".")
		if strings.ContainsAny(c, "<>:\"|?*") || windowsDevices[strings.ToUpper(strings.TrimRight(base, " "))] {
			return fmt.Errorf("component %q is not a Windows file name", c)
		}
	}
	return nil
}

// OpenStorage opens (creating as needed) a torrent's storage and its
// completion database.
func OpenStorage(cfg StorageConfig) (*Storage, error) {
	if err := CheckInfo(cfg.Info); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("piece: open storage: no directory")
	}
	cdir := cfg.CompletionDir
	if cdir == "" {
		cdir = cfg.Dir
	}
	pc, err := openCompletion(cdir)
	if err != nil {
		return nil, fmt.Errorf("piece: open completion database in %s: %w", cdir, err)
	}
	if err := bindDir(pc, cfg.InfoHash, cfg.Dir); err != nil {
		pc.Close()
		return nil, fmt.Errorf("piece: completion database in %s: %w", cdir, err)
	}
	completion := unflushedCompletion{pc}
	var client storage.ClientImplCloser
	switch {
	case cfg.Mmap:
		client = storage.NewMMapWithCompletion(cfg.Dir, completion)
	case cfg.AnacrolixFile:
		client = storage.NewFileOpts(storage.NewFileClientOpts{
			ClientBaseDir:   cfg.Dir,
			PieceCompletion: completion,
			UsePartFiles:    g.Some(false),
			Logger:          slog.New(slog.DiscardHandler),
		})
	default:
		client = closerClient{fileClient{dir: cfg.Dir, completion: completion}, completion}
	}
	var ft *fileTorrent
	var t storage.TorrentImpl
	if cc, ok := client.(closerClient); ok {
		if ft, err = cc.ClientImpl.(fileClient).open(cfg.Info, cfg.InfoHash); err == nil {
			t = ft.impl()
		}
	} else {
		t, err = client.OpenTorrent(context.Background(), cfg.Info, cfg.InfoHash)
	}
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("piece: open storage in %s: %w", cfg.Dir, err)
	}
	s := &Storage{
		ft:         ft,
		info:       cfg.Info,
		layout:     LayoutOf(cfg.Info),
		client:     client,
		torrent:    t,
		completion: completion,
	}
	s.bufs.New = func() any { b := make([]byte, 128<<10); return &b }
	n := s.layout.NumPieces()
	s.completed = NewBitfield(n)
	for i := 0; i < n; i++ {
		if c := s.piece(i).Completion(); c.Ok && c.Complete {
			s.completed.Set(i)
		}
	}
	return s, nil
}

func (s *Storage) piece(i int) storage.PieceImpl {
	return s.torrent.Piece(s.info.Piece(i))
}

// Layout returns the torrent's layout.
func (s *Storage) Layout() Layout { return s.layout }

// Completed returns the pieces marked complete when the storage was opened.
func (s *Storage) Completed() Bitfield { return s.completed.Clone() }

// ReadBlock reads block b into p, which must be b.Length long.
func (s *Storage) ReadBlock(b Block, p []byte) error {
	if !s.layout.InRange(b) || len(p) != int(b.Length) {
		return fmt.Errorf("%w: %+v", ErrBlock, b)
	}
	n, err := s.piece(b.Piece).ReadAt(p, int64(b.Begin))
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("piece: read piece %d at %d: %w", b.Piece, b.Begin, err)
}

// WriteBlock writes data as block b.
func (s *Storage) WriteBlock(b Block, data []byte) error {
	if !s.layout.InRange(b) || len(data) != int(b.Length) {
		return fmt.Errorf("%w: %+v", ErrBlock, b)
	}
	if _, err := s.piece(b.Piece).WriteAt(data, int64(b.Begin)); err != nil {
		return fmt.Errorf("piece: write piece %d at %d: %w", b.Piece, b.Begin, err)
	}
	return nil
}

// WriteRun writes consecutive blocks of one piece, starting at begin, in as
// few system calls as the backend allows (one pwritev for a run within one
// file with the default backend).
func (s *Storage) WriteRun(pieceIndex int, begin uint32, bufs [][]byte) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	run := Block{Piece: pieceIndex, Begin: begin, Length: uint32(total)}
	if total == 0 || int64(begin)+int64(total) > s.layout.PieceSize(pieceIndex) || begin%BlockSize != 0 {
		return fmt.Errorf("%w: run %+v", ErrBlock, run)
	}
	if s.ft == nil {
		for _, b := range bufs {
			if err := s.WriteBlock(Block{Piece: pieceIndex, Begin: begin, Length: uint32(len(b))}, b); err != nil {
				return err
			}
			begin += uint32(len(b))
		}
		return nil
	}
	if err := s.ft.writev(s.layout.Offset(run), bufs); err != nil {
		return fmt.Errorf("piece: write piece %d at %d: %w", pieceIndex, begin, err)
	}
	return nil
}

// VerifyPiece hashes piece i (SHA-1, v1) and records the result in the
// completion database. A read error is returned as an error, not as a
// failed hash.
func (s *Storage) VerifyPiece(i int) (bool, error) {
	if i < 0 || i >= s.layout.NumPieces() {
		return false, fmt.Errorf("%w: piece %d", ErrBlock, i)
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	h := sha1.New()
	size := s.layout.PieceSize(i)
	p := s.piece(i)
	for off := int64(0); off < size; {
		chunk := buf[:min(int64(len(buf)), size-off)]
		n, err := p.ReadAt(chunk, off)
		h.Write(chunk[:n])
		off += int64(n)
		if n < len(chunk) {
			if err == nil || err == io.EOF {
				// Missing data: the piece is simply not there.
				_ = p.MarkNotComplete()
				return false, nil
			}
			return false, fmt.Errorf("piece: verify piece %d: %w", i, err)
		}
	}
	var sum [20]byte
	h.Sum(sum[:0])
	return s.record(i, sum)
}

// maxPrepare bounds the files Prepare opens: a torrent of thousands of
// small files has them opened as their blocks come, not all at once.
const maxPrepare = 16

// Prepare opens the torrent's files ahead of the first block: it creates
// and preallocates the first files (up to sixteen) with the default
// backend, which otherwise does so on a file's first write, a millisecond
// or more on the way of the first piece. It is safe to call concurrently
// with writes, and does nothing with the other backends. A leecher calls it
// in the background as it starts.
func (s *Storage) Prepare() error {
	if s.ft == nil {
		return nil
	}
	for i := range min(len(s.ft.files), maxPrepare) {
		s.ft.mu.Lock()
		sparse := s.ft.sparse != nil && s.ft.sparse[i]
		s.ft.mu.Unlock()
		if s.ft.files[i].length == 0 || sparse {
			continue
		}
		if _, err := s.ft.file(i); err != nil {
			return fmt.Errorf("piece: prepare %s: %w", s.ft.files[i].path, err)
		}
	}
	return nil
}

// SetWantedFiles tells the storage which of the torrent's files (indexes
// into info.UpvertedFiles) are wanted. Prepare skips the others, and one
// that is opened later — to write a piece it shares with a wanted file — is
// not preallocated, so it takes on disk only the bytes written into it.
// It changes nothing for a file already open, nor with the other backends.
func (s *Storage) SetWantedFiles(want func(file int) bool) {
	if s.ft == nil {
		return
	}
	s.ft.mu.Lock()
	defer s.ft.mu.Unlock()
	if s.ft.sparse == nil {
		s.ft.sparse = make([]bool, len(s.ft.files))
	}
	for i := range s.ft.sparse {
		s.ft.sparse[i] = !want(i) || s.ft.files[i].padding
	}
}

// CompletePiece records the verdict on piece i given sum, the SHA-1 of its
// data as the caller wrote it (hashed on the way to the disk, so that the
// piece need not be read back), and reports whether it matched. The caller
// must have written the whole piece through this Storage, without error,
// before calling it; otherwise VerifyPiece is the one to call.
func (s *Storage) CompletePiece(i int, sum [20]byte) (bool, error) {
	if i < 0 || i >= s.layout.NumPieces() {
		return false, fmt.Errorf("%w: piece %d", ErrBlock, i)
	}
	return s.record(i, sum)
}

// record compares sum with piece i's hash and records the verdict.
func (s *Storage) record(i int, sum [20]byte) (bool, error) {
	p := s.piece(i)
	ok := string(sum[:]) == string(s.info.Pieces[i*20:i*20+20])
	var err error
	if ok {
		err = p.MarkComplete()
	} else {
		err = p.MarkNotComplete()
	}
	if err != nil {
		return ok, fmt.Errorf("piece: record completion of piece %d: %w", i, err)
	}
	return ok, nil
}

// VerifyAll hashes every piece, records the results, and returns the pieces
// that are complete: how a seeder adopts data already on disk, and how a
// download is rechecked after a power loss.
func (s *Storage) VerifyAll(ctx context.Context) (Bitfield, error) {
	bf := NewBitfield(s.layout.NumPieces())
	for i := 0; i < s.layout.NumPieces(); i++ {
		if err := ctx.Err(); err != nil {
			return bf, err
		}
		ok, err := s.VerifyPiece(i)
		if err != nil {
			return bf, err
		}
		if ok {
			bf.Set(i)
		}
	}
	return bf, nil
}

// Close closes the storage and its completion database.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.torrent.Close != nil {
			errs = append(errs, s.torrent.Close())
		}
		errs = append(errs, s.client.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// BlockHashes returns the SHA-1 of each block of piece i as stored: what
// the picker's smart ban compares between a failed and a good copy.
func (s *Storage) BlockHashes(i int) ([][20]byte, error) {
	n := s.layout.NumBlocks(i)
	if n == 0 {
		return nil, fmt.Errorf("%w: piece %d", ErrBlock, i)
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	out := make([][20]byte, n)
	for j := 0; j < n; j++ {
		b := s.layout.Block(i, j)
		buf := (*bp)[:b.Length]
		if err := s.ReadBlock(b, buf); err != nil {
			return nil, err
		}
		out[j] = sha1.Sum(buf)
	}
	return out, nil
}
