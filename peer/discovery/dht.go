package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	alog "github.com/anacrolix/log"
	"golang.org/x/time/rate"
)

// DHTConfig configures a DHT node. Zero fields take the defaults shown.
type DHTConfig struct {
	// Addr is the UDP address to listen on (default ":0").
	Addr string
	// StartingNodes are the nodes to join through. The default is none:
	// a node that reaches the internet's DHT must be given bootstrap
	// nodes, or PublicBootstrap.
	StartingNodes []netip.AddrPort
	// PublicBootstrap adds the well-known public bootstrap nodes
	// (router.bittorrent.com and others). It reaches the internet: opt in.
	PublicBootstrap bool
	// AnnounceInterval is how often a torrent's DHT source announces and
	// looks for peers again (default 15 min).
	AnnounceInterval time.Duration
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
}

// DHT is a mainline DHT node (BEP 5) over anacrolix/dht/v2, shared by any
// number of torrents through Source.
type DHT struct {
	s   *dht.Server
	cfg DHTConfig
}

// NewDHT starts a DHT node.
func NewDHT(cfg DHTConfig) (*DHT, error) {
	if cfg.AnnounceInterval < 0 {
		return nil, fmt.Errorf("%w: negative AnnounceInterval", ErrBadConfig)
	}
	if cfg.Addr == "" {
		cfg.Addr = ":0"
	}
	if cfg.AnnounceInterval == 0 {
		cfg.AnnounceInterval = 15 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pc, err := net.ListenPacket("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("discovery: dht listen on %s: %w", cfg.Addr, err)
	}
	sc := dht.NewDefaultServerConfig()
	sc.Conn = pc
	sc.NoSecurity = true
	// The stock in-memory store keys peers by IP alone, which loses all
	// but one peer per host (every loopback peer shares 127.0.0.1).
	sc.PeerStore = &addrPortStore{}
	sc.SendLimiter = rate.NewLimiter(rate.Inf, 0)
	sc.Logger = alog.Default.WithFilterLevel(alog.Disabled)
	nodes := append([]netip.AddrPort(nil), cfg.StartingNodes...)
	public := cfg.PublicBootstrap
	sc.StartingNodes = func() ([]dht.Addr, error) {
		var out []dht.Addr
		for _, n := range nodes {
			out = append(out, dht.NewAddr(net.UDPAddrFromAddrPort(n)))
		}
		if public {
			pub, err := dht.GlobalBootstrapAddrs("udp")
			if err != nil {
				return out, err
			}
			out = append(out, pub...)
		}
		return out, nil
	}
	s, err := dht.NewServer(sc)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("discovery: dht: %w", err)
	}
	return &DHT{s: s, cfg: cfg}, nil
}

// Addr returns the node's UDP address.
func (d *DHT) Addr() netip.AddrPort {
	ap, _ := netip.ParseAddrPort(d.s.Addr().String())
	return ap
}

// Bootstrap joins the DHT through the starting nodes.
func (d *DHT) Bootstrap(ctx context.Context) error {
	_, err := d.s.BootstrapContext(ctx)
	if err != nil {
		return fmt.Errorf("discovery: dht bootstrap: %w", err)
	}
	return nil
}

// Close stops the node.
func (d *DHT) Close() { d.s.Close() }

// Source returns a Source that announces the torrent on this node and
// looks up its peers every AnnounceInterval.
func (d *DHT) Source() Source { return dhtSource{d} }

type dhtSource struct{ d *DHT }

func (ds dhtSource) Run(ctx context.Context, a Announce) error {
	for {
		ds.once(ctx, a)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(ds.d.cfg.AnnounceInterval):
		}
	}
}

// once runs one get_peers traversal that ends with announce_peer. It
// starts with the peers announced to our own node, which a traversal never
// asks: in a small swarm ours may be the only node that holds them.
func (ds dhtSource) once(ctx context.Context, a Announce) {
	var local []netip.AddrPort
	for _, na := range ds.d.s.PeerStore().GetPeers(a.InfoHash) {
		if ap := nodeAddrPort(na); ap.IsValid() && ap.Port() != 0 {
			local = append(local, ap)
		}
	}
	if len(local) > 0 {
		a.Found(local)
	}
	ann, err := ds.d.s.AnnounceTraversal(a.InfoHash, dht.AnnouncePeer(dht.AnnouncePeerOpts{Port: a.Port}))
	if err != nil {
		ds.d.cfg.Logger.Debug("dht announce", "err", err)
		return
	}
	defer closeAnnounce(ann)
	// A traversal that stalls must not stop the next round.
	limit := time.NewTimer(max(10*time.Second, ds.d.cfg.AnnounceInterval))
	defer limit.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-limit.C:
			return
		case pv, ok := <-ann.Peers:
			if !ok {
				return
			}
			var peers []netip.AddrPort
			for _, p := range pv.Peers {
				if ap := nodeAddrPort(p); ap.IsValid() && ap.Port() != 0 {
					peers = append(peers, ap)
				}
			}
			if len(peers) > 0 {
				a.Found(peers)
			}
		}
	}
}

// announceDrainLimit bounds how long closeAnnounce waits for a traversal
// to end.
const announceDrainLimit = 5 * time.Second

// closeAnnounce stops an announce and reads what it still sends until it
// ends. anacrolix/dht/v2's get_peers query that got peers blocks sending
// them on Announce.Peers until they are read or the traversal has
// stopped, and the traversal stops only once every query has returned: an
// announce closed while such a reply was on its way, and not read, left
// its goroutines blocked for good (goleak caught one).
func closeAnnounce(ann *dht.Announce) {
	ann.Close()
	limit := time.NewTimer(announceDrainLimit)
	defer limit.Stop()
	for {
		select {
		case _, ok := <-ann.Peers:
			if !ok {
				return // closed once the traversal and its announces are done
			}
		case <-limit.C:
			return
		}
	}
}

// addrPortStore is a DHT peer store keyed by ip:port.
type addrPortStore struct {
	mu    sync.Mutex
	peers map[peer_store.InfoHash]map[netip.AddrPort]struct{}
}

const maxStoredPeers = 1000

func (s *addrPortStore) AddPeer(ih peer_store.InfoHash, na krpc.NodeAddr) {
	ap := nodeAddrPort(na)
	if !ap.IsValid() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers == nil {
		s.peers = make(map[peer_store.InfoHash]map[netip.AddrPort]struct{})
	}
	m := s.peers[ih]
	if m == nil {
		m = make(map[netip.AddrPort]struct{})
		s.peers[ih] = m
	}
	if len(m) < maxStoredPeers {
		m[ap] = struct{}{}
	}
}

func (s *addrPortStore) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []krpc.NodeAddr
	for ap := range s.peers[ih] {
		var na krpc.NodeAddr
		na.FromAddrPort(ap)
		out = append(out, na)
	}
	return out
}

func nodeAddrPort(na krpc.NodeAddr) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(na.UDP().String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
