package discovery

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
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
	// NoSecurity turns off BEP 42: by default the node keeps in its
	// routing table only nodes whose ids are derived from their IPs
	// (local and loopback addresses are exempt, as BEP 42 says, so
	// loopback tests work either way).
	NoSecurity bool
	// PublicIP, if set, is the address the internet sees us at: our own
	// node id is then derived from it, as BEP 42 asks.
	PublicIP netip.Addr
	// NodesFile, if set, is where the routing table is saved on Close and
	// loaded from on start (anacrolix's format: compact node infos), so a
	// restarted node rejoins without bootstrap nodes.
	NodesFile string
}

// DHT is a mainline DHT node (BEP 5) over anacrolix/dht/v2, shared by any
// number of torrents through Source.
type DHT struct {
	s   *dht.Server
	cfg DHTConfig

	// pings bounds the nodes being pinged for AddNode at once.
	pings chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	// pinged holds the addresses AddNode pinged lately (cleared when
	// full), so that a peer repeating its PORT message costs nothing.
	pinged    map[netip.AddrPort]struct{}
	closed    bool // no ping starts once set
	closeOnce sync.Once
}

// maxPings and maxPinged bound AddNode's work: pings in flight, and the
// addresses remembered as pinged.
const (
	maxPings  = 16
	maxPinged = 4096
)

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
	sc.NoSecurity = cfg.NoSecurity
	if cfg.PublicIP.IsValid() {
		sc.PublicIP = cfg.PublicIP.AsSlice()
	}
	// The stock in-memory store keys peers by IP alone, which loses all
	// but one peer per host (every loopback peer shares 127.0.0.1).
	sc.PeerStore = &addrPortStore{}
	sc.SendLimiter = rate.NewLimiter(rate.Inf, 0)
	sc.Logger = alog.Default.WithFilterLevel(alog.Disabled)
	nodes := append([]netip.AddrPort(nil), cfg.StartingNodes...)
	var saved []krpc.NodeInfo
	if cfg.NodesFile != "" {
		var err error
		saved, err = dht.ReadNodesFromFile(cfg.NodesFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			cfg.Logger.Warn("dht: reading the saved routing table", "file", cfg.NodesFile, "err", err)
		}
		for _, ni := range saved {
			if ap := nodeAddrPort(ni.Addr); ap.IsValid() && ap.Port() != 0 {
				nodes = append(nodes, ap)
			}
		}
	}
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
	for _, ni := range saved {
		_ = s.AddNode(ni) // its id as saved; a bad entry is skipped
	}
	return &DHT{s: s, cfg: cfg, pings: make(chan struct{}, maxPings), pinged: make(map[netip.AddrPort]struct{})}, nil
}

// AddNode pings a node a peer told us of (BEP 5's PORT message); the node
// joins the routing table if it answers. It never blocks: with maxPings
// pings in flight, or for an address pinged lately, it does nothing.
func (d *DHT) AddNode(addr netip.AddrPort) {
	if !addr.IsValid() || addr.Port() == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.pinged[addr]; ok || d.closed {
		return
	}
	if len(d.pinged) >= maxPinged {
		clear(d.pinged)
	}
	select {
	case d.pings <- struct{}{}:
	default:
		return // busy: a later PORT message may try again
	}
	d.pinged[addr] = struct{}{}
	d.wg.Go(func() {
		defer func() { <-d.pings }()
		res := d.s.Ping(net.UDPAddrFromAddrPort(addr))
		if res.Err != nil {
			d.cfg.Logger.Debug("dht: ping of a peer's node", "node", addr, "err", res.Err)
		}
	})
}

// NumNodes returns how many nodes the routing table holds.
func (d *DHT) NumNodes() int { return d.s.NumNodes() }

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

// Close stops the node, saving its routing table first if
// DHTConfig.NodesFile is set (a table with no nodes leaves the file as it
// was: a node that never joined keeps what the last run knew).
func (d *DHT) Close() {
	d.closeOnce.Do(func() {
		if d.cfg.NodesFile != "" {
			if err := d.saveNodes(); err != nil {
				d.cfg.Logger.Warn("dht: saving the routing table", "file", d.cfg.NodesFile, "err", err)
			}
		}
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		d.s.Close()
		d.wg.Wait()
	})
}

// saveNodes writes the routing table to NodesFile, through a temporary
// file renamed over it.
func (d *DHT) saveNodes() error {
	nodes := d.s.Nodes()
	if len(nodes) == 0 {
		return nil
	}
	tmp := d.cfg.NodesFile + ".tmp"
	if err := dht.WriteNodesToFile(nodes, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, d.cfg.NodesFile)
}

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
	// Announce the port we listen on; a client that listens on none only
	// looks.
	var opts []dht.AnnounceOpt
	if a.Port > 0 {
		opts = append(opts, dht.AnnouncePeer(dht.AnnouncePeerOpts{Port: a.Port}))
	}
	ann, err := ds.d.s.AnnounceTraversal(a.InfoHash, opts...)
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
