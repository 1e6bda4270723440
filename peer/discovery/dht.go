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
	// OnClientSocket makes a node with no socket of its own: the
	// peer.Client it is given to (peer.Config.DHT) starts it on the
	// client's port, reading the non-uTP packets of the client's uTP
	// socket (or on a UDP socket of that port when uTP is off), so that
	// one port serves TCP, uTP and the DHT, and the port we announce is
	// the node's too. Addr is unused. Until the client starts it the
	// node has no address, pings nobody, and Bootstrap and its Source
	// wait; it serves one client only.
	OnClientSocket bool
}

// DHT is a mainline DHT node (BEP 5) over anacrolix/dht/v2, shared by any
// number of torrents through Source.
type DHT struct {
	cfg DHTConfig
	sc  *dht.ServerConfig
	// saved is the routing table read from NodesFile, added once the
	// server runs.
	saved []krpc.NodeInfo
	// s is set once, by start, before ready is closed: read it only
	// after <-ready.
	s     *dht.Server
	ready chan struct{}

	// pings bounds the nodes being pinged for AddNode at once.
	pings chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	// pinged holds the addresses AddNode pinged lately (cleared when
	// full), so that a peer repeating its PORT message costs nothing.
	pinged    map[netip.AddrPort]struct{}
	closed    bool // no ping starts, and start fails, once set
	started   bool // start has begun (guarded by mu)
	closeOnce sync.Once
}

// maxPings and maxPinged bound AddNode's work: pings in flight, and the
// addresses remembered as pinged.
const (
	maxPings  = 16
	maxPinged = 4096
)

// NewDHT starts a DHT node on its own UDP socket (DHTConfig.Addr), or,
// with DHTConfig.OnClientSocket, makes one that a peer.Client starts.
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
	sc := dht.NewDefaultServerConfig()
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
	d := &DHT{cfg: cfg, sc: sc, saved: saved, ready: make(chan struct{}), pings: make(chan struct{}, maxPings), pinged: make(map[netip.AddrPort]struct{})}
	if cfg.OnClientSocket {
		return d, nil
	}
	pc, err := net.ListenPacket("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("discovery: dht listen on %s: %w", cfg.Addr, err)
	}
	if err := d.start(pc); err != nil {
		pc.Close()
		return nil, err
	}
	return d, nil
}

// ErrDHTStarted is Start's answer for a node that already runs (another
// client started it, or it has its own socket), or was closed.
var ErrDHTStarted = errors.New("discovery: the DHT node is started or closed")

// Start runs a node made with DHTConfig.OnClientSocket on pc, which it
// then reads and writes as its own, and closes when the node closes (give
// it a wrapper if pc is shared). peer.Client calls it; a node runs on one
// socket only: a second Start returns ErrDHTStarted.
func (d *DHT) Start(pc net.PacketConn) error {
	if !d.cfg.OnClientSocket {
		return ErrDHTStarted
	}
	return d.start(pc)
}

func (d *DHT) start(pc net.PacketConn) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return ErrDHTStarted
	}
	sc := *d.sc
	sc.Conn = pc
	s, err := dht.NewServer(&sc)
	if err != nil {
		return fmt.Errorf("discovery: dht: %w", err)
	}
	for _, ni := range d.saved {
		_ = s.AddNode(ni) // its id as saved; a bad entry is skipped
	}
	d.started = true
	d.s = s
	close(d.ready)
	return nil
}

// OnClientSocket reports whether the node was made to run on a
// peer.Client's port (DHTConfig.OnClientSocket).
func (d *DHT) OnClientSocket() bool { return d.cfg.OnClientSocket }

// running reports whether the node has been started (d.s is then safe to
// read).
func (d *DHT) running() bool {
	select {
	case <-d.ready:
		return true
	default:
		return false
	}
}

// waitRunning waits until the node is started, or ctx is done.
func (d *DHT) waitRunning(ctx context.Context) error {
	select {
	case <-d.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AddNode pings a node a peer told us of (BEP 5's PORT message); the node
// joins the routing table if it answers. It never blocks: with maxPings
// pings in flight, or for an address pinged lately, it does nothing.
func (d *DHT) AddNode(addr netip.AddrPort) {
	if !addr.IsValid() || addr.Port() == 0 {
		return
	}
	if !d.running() {
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

// NumNodes returns how many nodes the routing table holds (0 before the
// node is started).
func (d *DHT) NumNodes() int {
	if !d.running() {
		return 0
	}
	return d.s.NumNodes()
}

// Addr returns the node's UDP address; invalid before the node is
// started.
func (d *DHT) Addr() netip.AddrPort {
	if !d.running() {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(d.s.Addr().String())
	return ap
}

// Bootstrap joins the DHT through the starting nodes, first waiting for
// the node to be started (see DHTConfig.OnClientSocket).
func (d *DHT) Bootstrap(ctx context.Context) error {
	if err := d.waitRunning(ctx); err != nil {
		return fmt.Errorf("discovery: dht bootstrap: %w", err)
	}
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
		d.mu.Lock()
		started := d.started
		d.closed = true
		d.mu.Unlock()
		if !started {
			return // never started: nothing runs, and start now fails
		}
		if d.cfg.NodesFile != "" {
			if err := d.saveNodes(); err != nil {
				d.cfg.Logger.Warn("dht: saving the routing table", "file", d.cfg.NodesFile, "err", err)
			}
		}
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
	if ds.d.waitRunning(ctx) != nil {
		return nil
	}
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
