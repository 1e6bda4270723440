package peer

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer/discovery"
	"github.com/bttspeed/bttspeed/piece"
)

// Client is a BitTorrent peer: one listener and any number of torrents.
type Client struct {
	cfg    Config
	log    *slog.Logger
	peerID [20]byte
	ln     net.Listener
	addr   netip.AddrPort
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards torrents only; never held across I/O
	torrents map[metainfo.Hash]*Torrent
	conns    atomic.Int64
	// handshaking counts incoming connections in their handshake.
	handshaking atomic.Int64
	upLimit     *rate.Limiter // nil: uploads are not capped
}

// NewClient starts a client: it listens for peers unless cfg.NoListen.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cl := &Client{
		cfg:      cfg,
		log:      cfg.Logger,
		peerID:   newPeerID(cfg.PeerIDPrefix),
		ctx:      ctx,
		cancel:   cancel,
		torrents: make(map[metainfo.Hash]*Torrent),
	}
	if cfg.UploadRate > 0 {
		// A burst of a tenth of a second, and at least a block.
		cl.upLimit = rate.NewLimiter(rate.Limit(cfg.UploadRate), int(max(cfg.UploadRate/10, piece.BlockSize)))
	}
	if !cfg.NoListen {
		ln, err := net.Listen("tcp", cfg.ListenAddr)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("peer: listen on %s: %w", cfg.ListenAddr, err)
		}
		cl.ln = ln
		cl.addr, _ = netip.ParseAddrPort(ln.Addr().String())
		cl.wg.Go(cl.acceptLoop)
	}
	return cl, nil
}

// Addr returns the address the client listens on (invalid with NoListen).
func (cl *Client) Addr() netip.AddrPort { return cl.addr }

// PeerID returns the client's peer id.
func (cl *Client) PeerID() [20]byte { return cl.peerID }

// Close stops every torrent and the listener, and waits for all of the
// client's goroutines.
func (cl *Client) Close() error {
	// Stop taking peers, then close each torrent — which first lets
	// extension handlers finish what their peers are owed (Settler) —
	// then everything else.
	if cl.ln != nil {
		_ = cl.ln.Close()
	}
	cl.mu.Lock()
	ts := make([]*Torrent, 0, len(cl.torrents))
	for _, t := range cl.torrents {
		ts = append(ts, t)
	}
	cl.mu.Unlock()
	for _, t := range ts {
		_ = t.Close()
	}
	cl.cancel()
	cl.wg.Wait()
	return nil
}

func (cl *Client) reserveConn() bool {
	if cl.conns.Add(1) > int64(cl.cfg.MaxConns) {
		cl.conns.Add(-1)
		return false
	}
	return true
}

func (cl *Client) releaseConn() { cl.conns.Add(-1) }

func (cl *Client) acceptLoop() {
	var tempDelay time.Duration
	for {
		nc, err := cl.ln.Accept()
		if err != nil {
			if cl.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return // closed
			}
			// Out of file descriptors and the like: back off, as
			// net/http does.
			tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(tempDelay):
			case <-cl.ctx.Done():
				return
			}
			continue
		}
		tempDelay = 0
		// Connections still in their handshake count too, up to
		// MaxConns of them: a flood of connections that never finish
		// the handshake costs at most that many goroutines and
		// descriptors for HandshakeTimeout each.
		if cl.conns.Load() >= int64(cl.cfg.MaxConns) || cl.handshaking.Load() >= int64(cl.cfg.MaxConns) {
			cl.log.Debug("refusing incoming connection", "peer", nc.RemoteAddr(), "err", ErrLimit)
			_ = nc.Close()
			continue
		}
		cl.handshaking.Add(1)
		cl.wg.Go(func() {
			defer cl.handshaking.Add(-1)
			cl.handleIncoming(nc)
		})
	}
}

// handleIncoming runs the handshake of a connection a peer opened and hands
// it to its torrent.
func (cl *Client) handleIncoming(nc net.Conn) {
	ctx, cancel := context.WithTimeout(cl.ctx, cl.cfg.HandshakeTimeout)
	defer cancel()
	stop := deadlineFromContext(ctx, nc)
	res, err := readHandshakeStart(nc)
	var t *Torrent
	if err == nil {
		cl.mu.Lock()
		t = cl.torrents[res.infoHash]
		cl.mu.Unlock()
		if t == nil {
			err = fmt.Errorf("%w: %s", ErrUnknownTorrent, res.infoHash.HexString())
		}
	}
	if err == nil {
		err = writeHandshake(nc, ourExtensions(!cl.cfg.DisableFast), res.infoHash, cl.peerID)
	}
	if err == nil {
		res.peerID, err = readPeerID(nc)
	}
	stop()
	if err != nil {
		cl.log.Debug("incoming handshake failed", "peer", nc.RemoteAddr(), "err", err)
		_ = nc.Close()
		return
	}
	ap, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	if !t.post(event{kind: evNewConn, nc: nc, hs: res, addr: ap}) {
		_ = nc.Close()
	}
}

// TorrentSpec says what torrent to add and how. Exactly one of MetaInfo,
// TorrentFile, TorrentBytes and Magnet is set.
type TorrentSpec struct {
	MetaInfo     *metainfo.MetaInfo
	TorrentFile  string
	TorrentBytes []byte
	Magnet       string

	// Dir is where the data goes (default Config.DataDir).
	Dir string
	// Verify hashes the data already in Dir before starting, so a seeder
	// can serve files it has; pieces found complete are not fetched.
	// Without it only pieces recorded complete by an earlier run count.
	Verify bool
	// Mmap selects memory-mapped storage (see piece.StorageConfig).
	Mmap bool
	// Peers are dialed at once.
	Peers []netip.AddrPort
	// Trackers are announced to, besides those of the .torrent or magnet
	// link (unless NoTorrentTrackers).
	Trackers          []string
	NoTorrentTrackers bool
	// Sources are more peer sources, run for the torrent's life.
	Sources []discovery.Source
	// Policy overrides Config.Policy for this torrent.
	Policy choker.Policy
}

// AddTorrent adds a torrent and starts it. With Verify, it returns after
// the data on disk is hashed (ctx bounds that).
func (cl *Client) AddTorrent(ctx context.Context, spec TorrentSpec) (*Torrent, error) {
	if cl.ctx.Err() != nil {
		return nil, ErrClosed
	}
	mi, magnet, err := spec.load()
	if err != nil {
		return nil, err
	}
	if spec.Dir == "" {
		spec.Dir = cl.cfg.DataDir
	}
	var ih metainfo.Hash
	var info *metainfo.Info
	var peers []netip.AddrPort
	var trackers []string
	if mi != nil {
		ih = mi.HashInfoBytes()
		i, err := mi.UnmarshalInfo()
		if err != nil {
			return nil, fmt.Errorf("%w: info: %v", ErrBadTorrent, err)
		}
		info = &i
		for _, tier := range mi.UpvertedAnnounceList() {
			trackers = append(trackers, tier...)
		}
	} else {
		ih = magnet.InfoHash.Unwrap()
		for _, p := range magnet.Params["x.pe"] {
			if ap, err := netip.ParseAddrPort(p); err == nil {
				peers = append(peers, ap)
			}
		}
		trackers = append(trackers, magnet.Trackers...)
	}
	if spec.NoTorrentTrackers {
		trackers = nil
	}
	var sources []discovery.Source
	for _, u := range append(trackers, spec.Trackers...) {
		src, err := discovery.NewTracker(u, cl.cfg.Tracker)
		if err != nil {
			if slicesContains(spec.Trackers, u) {
				return nil, fmt.Errorf("peer: tracker: %w", err)
			}
			cl.log.Warn("ignoring the torrent's tracker", "url", discovery.RedactURL(u), "err", err)
			continue
		}
		sources = append(sources, src)
	}
	if cl.cfg.DHT != nil && (info == nil || info.Private == nil || !*info.Private) {
		sources = append(sources, cl.cfg.DHT.Source())
	}
	sources = append(sources, spec.Sources...)
	policy := spec.Policy
	if policy == nil {
		policy, err = cl.cfg.Policy()
		if err != nil {
			return nil, fmt.Errorf("peer: choking policy: %w", err)
		}
	}
	t := newTorrent(cl, ih, spec, policy)
	var st *piece.Storage
	if info != nil {
		st, err = t.openStorage(info)
		if err != nil {
			return nil, err
		}
		if spec.Verify {
			if _, err := st.VerifyAll(ctx); err != nil {
				st.Close()
				return nil, fmt.Errorf("peer: verify %s: %w", spec.Dir, err)
			}
			// Reopen to pick up the completion just recorded.
			st.Close()
			if st, err = t.openStorage(info); err != nil {
				return nil, err
			}
		}
	}
	cl.mu.Lock()
	if cl.torrents[ih] != nil {
		cl.mu.Unlock()
		if st != nil {
			st.Close()
		}
		return nil, fmt.Errorf("%w: %s", ErrExists, ih.HexString())
	}
	cl.torrents[ih] = t
	cl.mu.Unlock()
	if info != nil {
		if err := t.start(info, mi.InfoBytes, st); err != nil {
			cl.removeTorrent(t)
			st.Close()
			return nil, err
		}
	}
	cl.wg.Go(t.run)
	t.AddPeers(append(peers, spec.Peers...)...)
	for _, src := range sources {
		t.runSource(src)
	}
	return t, nil
}

func (cl *Client) removeTorrent(t *Torrent) {
	cl.mu.Lock()
	if cl.torrents[t.ih] == t {
		delete(cl.torrents, t.ih)
	}
	cl.mu.Unlock()
}

// load parses the spec's source.
func (s TorrentSpec) load() (*metainfo.MetaInfo, *metainfo.MagnetV2, error) {
	n := 0
	for _, set := range []bool{s.MetaInfo != nil, s.TorrentFile != "", s.TorrentBytes != nil, s.Magnet != ""} {
		n += btoi(set)
	}
	if n != 1 {
		return nil, nil, fmt.Errorf("%w: set exactly one of MetaInfo, TorrentFile, TorrentBytes and Magnet (%d set)", ErrBadTorrent, n)
	}
	switch {
	case s.MetaInfo != nil:
		return s.MetaInfo, nil, nil
	case s.TorrentFile != "":
		mi, err := LoadTorrentFile(s.TorrentFile)
		return mi, nil, err
	case s.TorrentBytes != nil:
		mi, err := metainfo.Load(bytesReader(s.TorrentBytes))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadTorrent, err)
		}
		return mi, nil, nil
	}
	m, err := metainfo.ParseMagnetV2Uri(s.Magnet)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: magnet: %v", ErrBadTorrent, err)
	}
	if !m.InfoHash.Ok {
		return nil, nil, fmt.Errorf("%w: magnet has no v1 info hash (btih)", ErrBadTorrent)
	}
	return nil, &m, nil
}

// maxTorrentFile bounds a .torrent we read.
const maxTorrentFile = 64 << 20

// LoadTorrentFile reads and parses a .torrent file.
func LoadTorrentFile(path string) (*metainfo.MetaInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if st.Size() > maxTorrentFile {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrBadTorrent, path, st.Size(), maxTorrentFile)
	}
	mi, err := metainfo.Load(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadTorrent, path, err)
	}
	return mi, nil
}

func (t *Torrent) openStorage(info *metainfo.Info) (*piece.Storage, error) {
	if err := piece.CheckInfo(info); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTorrent, err)
	}
	dir, err := filepath.Abs(t.spec.Dir)
	if err != nil {
		return nil, fmt.Errorf("peer: data dir: %w", err)
	}
	st, err := piece.OpenStorage(piece.StorageConfig{
		Dir:           dir,
		Info:          info,
		InfoHash:      t.ih,
		Mmap:          t.spec.Mmap,
		CompletionDir: filepath.Join(dir, ".bttspeed"),
	})
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	return st, nil
}

// start installs the info and storage (loop state; called before the loop
// runs, or from it).
func (t *Torrent) start(info *metainfo.Info, infoBytes []byte, st *piece.Storage) error {
	if sha1.Sum(infoBytes) != t.ih {
		return fmt.Errorf("%w: info does not match the info hash", ErrBadTorrent)
	}
	layout := piece.LayoutOf(info)
	picker, err := piece.NewPicker(layout, st.Completed(), piece.PickerConfig{
		Rand:           t.rng,
		RequestTimeout: t.cl.cfg.RequestTimeout,
	})
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	t.info, t.infoBytes, t.layout, t.picker = info, infoBytes, layout, picker
	t.st.Store(st)
	t.left.Store(picker.Left())
	t.disk = newDiskQueue(2, st, func(j diskJob, err error) {
		if err != nil && !j.verify {
			t.post(event{kind: evStorageErr, err: err})
			return
		}
		t.post(event{kind: evHashDone, piece: j.block.Piece, ok: j.ok, hashes: j.hashes, err: err})
	}, func() {
		// Never block a disk worker: a wake-up already pending will do.
		select {
		case t.diskWake <- struct{}{}:
		default:
		}
	}, &t.wg)
	close(t.gotInfo)
	if picker.Complete() {
		close(t.done)
	} else {
		// Create and preallocate the files while the peers handshake,
		// not on the way of the first piece.
		t.wg.Go(func() {
			if err := st.Prepare(); err != nil {
				t.log.Debug("preparing files", "err", err) // the first write will say
			}
		})
	}
	// Peers that connected before we had the info.
	for _, c := range t.conns {
		picker.AddPeer(piece.PeerID(c.id), piece.NewBitfield(layout.NumPieces()))
		if c.ls.haveAll || c.ls.early != nil {
			if err := t.onBitfieldLate(c); err != nil {
				c.close(err)
				continue
			}
		}
		picker.Have().Each(func(i int) { c.send(msgIndex(pp.Have, i)) })
	}
	return nil
}

// onBitfieldLate applies what a peer said it has (a bitfield, haves,
// have-all) before we had the info.
func (t *Torrent) onBitfieldLate(c *conn) error {
	if c.ls.haveAll {
		return t.onBitfield(c, nil, true)
	}
	n := t.layout.NumPieces()
	bf := piece.NewBitfield(n)
	var err error
	c.ls.early.each(func(i int) {
		if i >= n && err == nil {
			err = fmt.Errorf("%w: it said it has piece %d of %d", ErrProtocol, i, n)
		}
		bf.Set(i)
	})
	c.ls.early = nil
	if err != nil {
		return err
	}
	return t.addPeerBitfield(c, bf)
}

// allowedFastCount is how many allowed-fast pieces we grant (BEP 6).
const allowedFastCount = 10

// allowedFastSet is BEP 6's canonical allowed-fast set for a peer's IPv4
// address; it is empty for IPv6 peers.
func allowedFastSet(ip netip.Addr, ih metainfo.Hash, numPieces, k int) []int {
	ip = ip.Unmap()
	if !ip.Is4() || numPieces == 0 {
		return nil
	}
	k = min(k, numPieces)
	a := ip.As4()
	x := make([]byte, 0, 24)
	x = append(x, a[0], a[1], a[2], 0)
	x = append(x, ih[:]...)
	var set []int
	for len(set) < k {
		h := sha1.Sum(x)
		x = h[:]
		for i := 0; i < 5 && len(set) < k; i++ {
			y := binary.BigEndian.Uint32(h[4*i:])
			idx := int(y % uint32(numPieces))
			dup := false
			for _, s := range set {
				dup = dup || s == idx
			}
			if !dup {
				set = append(set, idx)
			}
		}
	}
	return set
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
