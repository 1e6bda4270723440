package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/peer"
)

// item is one thing to seed: a file or folder to make a torrent of, or a
// .torrent with its data in dir.
type item struct {
	// path is the file or folder (data) or the .torrent (torrent).
	path    string
	torrent bool
	// dir, with torrent, is where its data is.
	dir string
	// out, with data, is where to write the .torrent; it may exist, and
	// is then kept if it is the same torrent.
	out string
}

// made is a torrent ready to add: its metainfo, where its data is, and
// the .torrent file that describes it (written or given).
type made struct {
	mi      *metainfo.MetaInfo
	info    metainfo.Info
	dir     string
	file    string
	written bool
}

// maker makes and loads torrents with the seeder's settings.
type maker struct {
	pieceLength int64
	trackers    []string
	webSeeds    []string
	// nodes are DHT nodes to name in the .torrents written (BEP 5): ours,
	// when the seeder runs a DHT node on a specific address.
	nodes []netip.AddrPort
	// trustOld, with -verify=false, reuses a .torrent written earlier
	// without hashing the data again when the data is no newer than it:
	// the start of a seeder of many torrents is then a read of each
	// .torrent, not a hash of each file.
	trustOld bool
	log      *slog.Logger
	// written serializes the look for an existing .torrent and the write
	// of a new one, so that two workers making the same item (given
	// twice) do not both find none and both write: the second then finds
	// the first's, and the item is seeded once.
	written sync.Mutex
}

// errOtherTorrent reports a .torrent in the way of the one to write.
var errOtherTorrent = errors.New("remove it or give -torrent-out")

// make loads a .torrent, or makes the torrent of a file or folder and
// writes it (keeping an existing .torrent of the same data). Every error
// is a setup error: the item cannot be seeded as given.
func (m *maker) make(ctx context.Context, it item) (*made, error) {
	if it.torrent {
		mi, err := peer.LoadTorrentFile(it.path)
		if err != nil {
			return nil, cli.Setupf("reading the torrent %s: %w", it.path, err)
		}
		info, err := mi.UnmarshalInfo()
		if err != nil {
			return nil, cli.Setupf("reading the torrent %s: bad info dictionary: %v", it.path, err)
		}
		if st, err := os.Stat(it.dir); err != nil || !st.IsDir() {
			return nil, cli.Setupf("%s: %s is not a directory holding the torrent's data (-dir): %v", it.path, it.dir, err)
		}
		return &made{mi: mi, info: info, dir: it.dir, file: it.path}, nil
	}
	abs, err := filepath.Abs(it.path)
	if err != nil {
		return nil, cli.Setup(err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, cli.Setupf("nothing to seed at %s: %w", it.path, err)
	}
	if m.trustOld {
		if old, ok := m.reuse(abs, st, it.out); ok {
			return old, nil
		}
	}
	info := metainfo.Info{PieceLength: m.pieceLength}
	start := time.Now()
	if err := buildInfo(ctx, &info, abs); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("making a torrent of %s: %w", it.path, err)
		}
		return nil, cli.Setupf("making a torrent of %s: %w", it.path, err)
	}
	if info.TotalLength() == 0 {
		return nil, cli.Setupf("%s is empty: nothing to seed", it.path)
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return nil, cli.Setup(err)
	}
	mi := &metainfo.MetaInfo{InfoBytes: ib, CreatedBy: "bttspeed seeder", CreationDate: time.Now().Unix()}
	m.describe(mi)
	m.log.Info("made the torrent", "name", info.Name, "bytes", info.TotalLength(), "pieces", info.NumPieces(), "piece_length", info.PieceLength, "took", time.Since(start).Round(time.Millisecond))
	out := it.out
	if out == "" {
		out = abs + ".torrent"
	}
	m.written.Lock()
	defer m.written.Unlock()
	if old, err := metainfo.LoadFromFile(out); err == nil {
		if old.HashInfoBytes() != mi.HashInfoBytes() {
			return nil, cli.Setupf("%s exists and is another torrent (info hash %s, the data makes %s): %w", out, old.HashInfoBytes().HexString(), mi.HashInfoBytes().HexString(), errOtherTorrent)
		}
		return &made{mi: old, info: info, dir: filepath.Dir(abs), file: out}, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, cli.Setupf("%s exists and is not a readable .torrent (%v): remove it or give -torrent-out", out, err)
	}
	if err := writeTorrent(out, mi); err != nil {
		return nil, err
	}
	return &made{mi: mi, info: info, dir: filepath.Dir(abs), file: out, written: true}, nil
}

// buildInfo is metainfo.Info.BuildFromFilePath with its reads bound to
// ctx: a stop while a large file is being hashed ends the hash at once
// rather than after it (the seeder's stop has redemptions to make in a
// bounded time).
func buildInfo(ctx context.Context, info *metainfo.Info, root string) error {
	info.Name = filepath.Base(root)
	info.Files = nil
	err := filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		switch {
		case err != nil:
			return err
		case fi.IsDir():
			return nil // directories are implicit in a torrent
		case path == root:
			info.Length = fi.Size()
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		info.Files = append(info.Files, metainfo.FileInfo{Path: strings.Split(rel, string(filepath.Separator)), Length: fi.Size()})
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(info.Files, func(a, b metainfo.FileInfo) int {
		return strings.Compare(strings.Join(a.BestPath(), "/"), strings.Join(b.BestPath(), "/"))
	})
	if info.PieceLength == 0 {
		info.PieceLength = metainfo.ChoosePieceLength(info.TotalLength())
	}
	return info.GeneratePieces(func(fi metainfo.FileInfo) (io.ReadCloser, error) {
		f, err := os.Open(filepath.Join(append([]string{root}, fi.BestPath()...)...))
		if err != nil {
			return nil, err
		}
		return ctxReader{ctx: ctx, f: f}, nil
	})
}

// ctxReader reads a file until ctx ends.
type ctxReader struct {
	ctx context.Context
	f   *os.File
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.f.Read(p)
}

func (r ctxReader) Close() error { return r.f.Close() }

// reuse returns the .torrent written earlier for the data at abs, if it
// names the data (same name and size) and is no older than it.
func (m *maker) reuse(abs string, st os.FileInfo, out string) (*made, bool) {
	if out == "" {
		out = abs + ".torrent"
	}
	tst, err := os.Stat(out)
	if err != nil {
		return nil, false
	}
	size, newest, err := measure(abs, st)
	if err != nil || newest.After(tst.ModTime()) {
		return nil, false
	}
	mi, err := metainfo.LoadFromFile(out)
	if err != nil {
		return nil, false
	}
	info, err := mi.UnmarshalInfo()
	if err != nil || info.BestName() != filepath.Base(abs) || info.TotalLength() != size {
		return nil, false
	}
	return &made{mi: mi, info: info, dir: filepath.Dir(abs), file: out}, true
}

// describe puts the seeder's trackers, web seeds and DHT nodes in mi.
func (m *maker) describe(mi *metainfo.MetaInfo) {
	if len(m.trackers) > 0 {
		mi.Announce = m.trackers[0]
		if len(m.trackers) > 1 {
			mi.AnnounceList = metainfo.AnnounceList{m.trackers}
		}
	}
	mi.UrlList = append(metainfo.UrlList(nil), m.webSeeds...)
	for _, n := range m.nodes {
		mi.Nodes = append(mi.Nodes, metainfo.Node(n.String()))
	}
}

func writeTorrent(out string, mi *metainfo.MetaInfo) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return cli.Setupf("writing the .torrent: %w", err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return cli.Setupf("writing the .torrent: %w", err)
	}
	if err := mi.Write(f); err != nil {
		f.Close()
		return cli.Setupf("writing %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return cli.Setupf("writing %s: %w", out, err)
	}
	return nil
}

// measure is a file's size and modification time, or a folder's total
// size and its newest file's time.
func measure(path string, st os.FileInfo) (size int64, newest time.Time, err error) {
	if !st.IsDir() {
		return st.Size(), st.ModTime(), nil
	}
	newest = st.ModTime()
	err = filepath.WalkDir(path, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		if fi.Mode().IsRegular() {
			size += fi.Size()
		}
		return nil
	})
	return size, newest, err
}

// seeded is a torrent being seeded.
type seeded struct {
	tor     *peer.Torrent
	name    string
	file    string // its .torrent
	magnet  string
	length  int64
	pieces  int
	origin  string // the file, folder or .torrent it came from
	added   time.Time
	watched bool
}

// seedSet is the torrents one client seeds, added at start and by the
// watcher, removed by the watcher. Safe for concurrent use.
//
// Each torrent is given to the engine in a directory of its own,
// STATE/data/<infohash>, holding a symbolic link to its data: the engine keeps
// a torrent's piece-completion database in its directory, and two
// torrents of one directory (two files side by side) cannot both open it.
// The operator's data directories are then never written to by the
// seeder, and the completion records live in the state directory.
type seedSet struct {
	cl     *peer.Client
	links  string
	verify bool
	peers  []netip.AddrPort
	tracks []string
	log    *slog.Logger

	mu     sync.Mutex
	byHash map[metainfo.Hash]*seeded
	// adding holds the torrents being added, by origin, so that the same
	// torrent added twice at once is added once.
	adding map[metainfo.Hash]string
	// retiredUp is what the removed torrents uploaded, so that the
	// seeder's total never goes down.
	retiredUp int64
}

func newSeedSet(cl *peer.Client, links string, verify bool, peers []netip.AddrPort, trackers []string, log *slog.Logger) *seedSet {
	return &seedSet{cl: cl, links: links, verify: verify, peers: peers, tracks: trackers, log: log, byHash: map[metainfo.Hash]*seeded{}, adding: map[metainfo.Hash]string{}}
}

// linkDir makes links/<infohash>/<name> a symbolic link to the data and
// returns links/<infohash>.
func (s *seedSet) linkDir(m *made) (string, error) {
	dir := filepath.Join(s.links, m.mi.HashInfoBytes().HexString())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", cli.Setupf("making the torrent's directory in the state: %w", err)
	}
	target, err := filepath.Abs(filepath.Join(m.dir, m.info.BestName()))
	if err != nil {
		return "", cli.Setup(err)
	}
	link := filepath.Join(dir, m.info.BestName())
	if old, err := os.Readlink(link); err == nil && old == target {
		return dir, nil
	}
	_ = os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		return "", cli.Setupf("linking the torrent's data: %w", err)
	}
	return dir, nil
}

// errAlready reports a torrent seeded already (from another path).
var errAlready = errors.New("seeded already")

// add starts seeding m; origin is what it came from. A torrent none of
// whose pieces is in its directory is refused: that is a wrong -dir, not
// something to seed.
// Safe for concurrent use.
func (s *seedSet) add(ctx context.Context, m *made, origin string, watched bool) (*seeded, error) {
	h := m.mi.HashInfoBytes()
	s.mu.Lock()
	if old, dup := s.byHash[h]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: %w as %s", origin, errAlready, old.origin)
	}
	if other, dup := s.adding[h]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: %w as %s", origin, errAlready, other)
	}
	s.adding[h] = origin
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.adding, h)
		s.mu.Unlock()
	}()
	start := time.Now()
	dir, err := s.linkDir(m)
	if err != nil {
		return nil, err
	}
	tor, err := s.cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: m.mi, Dir: dir, Verify: s.verify, Peers: s.peers, Trackers: s.tracks})
	if err != nil {
		return nil, cli.Setupf("seeding %s from %s: %w", m.info.BestName(), m.dir, err)
	}
	st, err := tor.Stats(ctx)
	if err != nil {
		tor.Close()
		return nil, err
	}
	switch {
	case st.PiecesDone == 0:
		tor.Close()
		return nil, cli.Setupf("none of the %d pieces of %s is in %s: check -dir (the data must be at %s)", st.Pieces, m.info.BestName(), m.dir, filepath.Join(m.dir, m.info.BestName()))
	case !st.Complete:
		s.log.Warn("the data is incomplete: seeding the pieces there are and fetching the rest", "name", m.info.BestName(), "pieces", st.Pieces, "have", st.PiecesDone)
	}
	sd := &seeded{tor: tor, name: m.info.BestName(), file: m.file, magnet: magnetLink(m, s.cl.Addr()), length: m.info.TotalLength(),
		pieces: m.info.NumPieces(), origin: origin, added: time.Now(), watched: watched}
	s.mu.Lock()
	s.byHash[h] = sd
	s.mu.Unlock()
	s.log.Info("seeding", "name", sd.name, "infohash", h.HexString(), "pieces", st.PiecesDone, "of", st.Pieces, "verified", s.verify, "took", time.Since(start).Round(time.Millisecond))
	return sd, nil
}

// remove stops seeding the torrent h.
func (s *seedSet) remove(ctx context.Context, h metainfo.Hash) {
	s.mu.Lock()
	sd, ok := s.byHash[h]
	delete(s.byHash, h)
	s.mu.Unlock()
	if !ok {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	st, _ := sd.tor.Stats(sctx)
	cancel()
	s.mu.Lock()
	s.retiredUp += st.Uploaded
	s.mu.Unlock()
	if err := sd.tor.Close(); err != nil && !errors.Is(err, peer.ErrClosed) {
		s.log.Warn("closing a removed torrent", "name", sd.name, "err", err)
	}
	if err := os.RemoveAll(filepath.Join(s.links, h.HexString())); err != nil {
		s.log.Warn("removing a dropped torrent's directory", "err", err)
	}
	s.log.Info("stopped seeding", "name", sd.name, "infohash", h.HexString(), "uploaded", st.Uploaded)
}

// list is the torrents, by name then info hash.
func (s *seedSet) list() []*seeded {
	s.mu.Lock()
	out := make([]*seeded, 0, len(s.byHash))
	for _, sd := range s.byHash {
		out = append(out, sd)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *seeded) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.tor.InfoHash().HexString(), b.tor.InfoHash().HexString())
	})
	return out
}

// retired is what removed torrents uploaded.
func (s *seedSet) retired() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retiredUp
}

// failed returns the first torrent that stopped with an error.
func (s *seedSet) failed() (*seeded, error) {
	for _, sd := range s.list() {
		if err := sd.tor.Err(); err != nil && !errors.Is(err, peer.ErrClosed) {
			return sd, err
		}
	}
	return nil, nil
}

// magnetLink is the torrent's magnet link, with our address as x.pe when
// we listen on a specific IP.
func magnetLink(m *made, listen netip.AddrPort) string {
	mg, err := m.mi.MagnetV2()
	if err != nil {
		return ""
	}
	mg.DisplayName = m.info.BestName()
	if listen.IsValid() && !listen.Addr().IsUnspecified() {
		if mg.Params == nil {
			mg.Params = url.Values{}
		}
		mg.Params.Set("x.pe", listen.String())
	}
	return mg.String()
}
