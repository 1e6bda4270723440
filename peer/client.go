package peer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/anacrolix/torrent/metainfo"
	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/peer/discovery"
	"github.com/bttspeed/bttspeed/piece"
)

// Client is a BitTorrent peer: one listener and any number of torrents.
type Client struct {
	cfg    Config
	log    *slog.Logger
	peerID [20]byte
	ln     net.Listener
	utp    utpSocket // nil unless Config.Protocols has uTP
	// utpSlots bounds the uTP dials after a TCP dial failed.
	utpSlots chan struct{}
	addr     netip.AddrPort
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu       sync.Mutex // guards torrents only; never held across I/O
	torrents map[metainfo.Hash]*Torrent
	// v2alias finds hybrid torrents by their truncated v2 info hash, the
	// name v2 peers give them in handshakes (BEP 52). Under mu.
	v2alias map[metainfo.Hash]*Torrent
	conns   atomic.Int64
	// handshaking counts incoming connections in their handshake.
	handshaking atomic.Int64
	upLimit     *rate.Limiter // nil: uploads are not capped
}

// NewClient starts a client: it accepts peers on cfg.Listener, or listens
// for them on cfg.ListenAddr unless cfg.NoListen.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if !cfg.DisablePEX && !slices.Contains(extNames(cfg.Extensions), pexName) {
		cfg.Extensions = append(slices.Clip(cfg.Extensions), pexExtension{interval: cfg.pexInterval})
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
	ln, err := cl.listenAll()
	if err != nil {
		cancel()
		return nil, err
	}
	if ln != nil {
		cl.ln = ln
		cl.wg.Go(func() { cl.acceptLoop(ln) })
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
	if cl.utp != nil {
		_ = cl.utp.Close()
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
		i, err := mi.UnmarshalInfo()
		if err != nil {
			return nil, fmt.Errorf("%w: info: %v", ErrBadTorrent, err)
		}
		info = &i
		ih = InfoHashOf(mi.InfoBytes, info)
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
			if slices.Contains(spec.Trackers, u) {
				return nil, fmt.Errorf("peer: tracker: %w", err)
			}
			cl.log.Warn("ignoring the torrent's tracker", "url", discovery.RedactURL(u), "err", err)
			continue
		}
		sources = append(sources, src)
	}
	webSeeds, err := cl.webSeedURLs(mi, magnet, spec.WebSeeds)
	if err != nil {
		return nil, err
	}
	useDHT := cl.cfg.DHT != nil && (info == nil || info.Private == nil || !*info.Private)
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
	if mi != nil {
		if v2, ok := V2InfoHashOf(mi.InfoBytes, info); ok && v2 != ih {
			if cl.v2alias == nil {
				cl.v2alias = make(map[metainfo.Hash]*Torrent)
			}
			cl.v2alias[v2] = t
		}
	}
	cl.mu.Unlock()
	if info != nil {
		if err := t.start(info, mi.InfoBytes, st); err != nil {
			cl.removeTorrent(t)
			st.Close()
			return nil, err
		}
	}
	if useDHT {
		// A magnet's info may turn out private: the DHT stops then.
		sources = append(sources, publicOnly{src: cl.cfg.DHT.Source(), t: t})
	}
	cl.wg.Go(t.run)
	if len(webSeeds) > 0 {
		_ = t.AddWebSeeds(webSeeds, nil) // checked above: fails only if the torrent has stopped
	}
	if peers = append(peers, spec.Peers...); len(peers) > 0 {
		t.AddPeers(peers...)
	}
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
	for k, x := range cl.v2alias {
		if x == t {
			delete(cl.v2alias, k)
		}
	}
	cl.mu.Unlock()
}
