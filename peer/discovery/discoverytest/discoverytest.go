// Package discoverytest runs loopback trackers and DHT nodes for tests: a
// tracker speaking HTTP and UDP over an in-memory swarm keyed by ip:port
// that records every announce (and can be made to fail), a tracker that
// never answers, and small DHT swarms on 127.0.0.1, optionally with nodes
// that lie. The UDP side is anacrolix's tracker server; the HTTP side
// answers itself (see httpTracker).
package discoverytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	"github.com/anacrolix/generics"
	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/tracker"
	trackerServer "github.com/anacrolix/torrent/tracker/server"
	"github.com/anacrolix/torrent/tracker/udp"
	trUdpServer "github.com/anacrolix/torrent/tracker/udp/server"
	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/peer/discovery"
)

// AnnounceRecord is one announce a Tracker received.
type AnnounceRecord struct {
	InfoHash                   [20]byte
	Addr                       netip.AddrPort
	Event                      tracker.AnnounceEvent
	Uploaded, Downloaded, Left int64
	UDP                        bool
}

// Tracker is a loopback tracker.
type Tracker struct {
	// HTTPURL and UDPURL are its announce URLs.
	HTTPURL, UDPURL string
	// Interval is the re-announce interval it tells clients, in seconds.
	Interval int32

	mu      sync.Mutex
	records []AnnounceRecord
	swarms  map[[20]byte]map[netip.AddrPort]bool // peer → seeding
	fail    bool
}

// Announces returns every announce received so far.
func (tr *Tracker) Announces() []AnnounceRecord {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]AnnounceRecord(nil), tr.records...)
}

// SetFailing makes the tracker answer every announce with an error.
func (tr *Tracker) SetFailing(fail bool) {
	tr.mu.Lock()
	tr.fail = fail
	tr.mu.Unlock()
}

func (tr *Tracker) record(r AnnounceRecord) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.fail {
		return errors.New("tracker failing on purpose")
	}
	tr.records = append(tr.records, r)
	if tr.swarms[r.InfoHash] == nil {
		tr.swarms[r.InfoHash] = make(map[netip.AddrPort]bool)
	}
	if r.Event == tracker.Stopped {
		delete(tr.swarms[r.InfoHash], r.Addr)
	} else {
		tr.swarms[r.InfoHash][r.Addr] = r.Left == 0
	}
	return nil
}

// TrackAnnounce implements trackerServer.AnnounceTracker (the UDP path
// brings the whole request).
func (tr *Tracker) TrackAnnounce(_ context.Context, req udp.AnnounceRequest, addr trackerServer.AnnounceAddr) error {
	return tr.record(AnnounceRecord{InfoHash: req.InfoHash, Addr: addr, Event: req.Event, Uploaded: req.Uploaded, Downloaded: req.Downloaded, Left: req.Left, UDP: true})
}

// Scrape implements trackerServer.AnnounceTracker.
func (tr *Tracker) Scrape(_ context.Context, ihs []trackerServer.InfoHash) ([]udp.ScrapeInfohashResult, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []udp.ScrapeInfohashResult
	for _, ih := range ihs {
		var r udp.ScrapeInfohashResult
		for _, seed := range tr.swarms[ih] {
			if seed {
				r.Seeders++
			} else {
				r.Leechers++
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// GetPeers implements trackerServer.AnnounceTracker.
func (tr *Tracker) GetPeers(_ context.Context, ih trackerServer.InfoHash, _ trackerServer.GetPeersOpts, remote trackerServer.AnnounceAddr) trackerServer.ServerAnnounceResult {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.fail {
		return trackerServer.ServerAnnounceResult{Err: errors.New("tracker failing on purpose")}
	}
	var res trackerServer.ServerAnnounceResult
	var seeders, leechers int32
	for ap, seed := range tr.swarms[ih] {
		if seed {
			seeders++
		} else {
			leechers++
		}
		if ap != remote {
			res.Peers = append(res.Peers, trackerServer.PeerInfo{AnnounceAddr: ap})
		}
	}
	res.Interval = generics.Some(tr.Interval)
	res.Seeders = generics.Some(seeders)
	res.Leechers = generics.Some(leechers)
	return res
}

// httpTracker answers HTTP announces itself. anacrolix's HTTP tracker
// handler keeps only some of the request's fields, and always sends a
// "failure reason" key, empty on success, which aria2 takes for a failure.
type httpTracker struct {
	tr *Tracker
}

func (h httpTracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ev tracker.AnnounceEvent
	_ = ev.UnmarshalText([]byte(q.Get("event")))
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	port, _ := strconv.ParseUint(q.Get("port"), 10, 16)
	addr, _ := netip.ParseAddr(host)
	num := func(k string) int64 { n, _ := strconv.ParseInt(q.Get(k), 10, 64); return n }
	var ih [20]byte
	copy(ih[:], q.Get("info_hash"))
	if len(q.Get("info_hash")) != 20 || len(q.Get("peer_id")) != 20 || port == 0 {
		writeBencode(w, map[string]any{"failure reason": "bad announce"})
		return
	}
	remote := netip.AddrPortFrom(addr, uint16(port))
	rec := AnnounceRecord{InfoHash: ih, Addr: remote, Event: ev, Uploaded: num("uploaded"), Downloaded: num("downloaded"), Left: num("left")}
	if err := h.tr.record(rec); err != nil {
		writeBencode(w, map[string]any{"failure reason": err.Error()})
		return
	}
	res := h.tr.GetPeers(r.Context(), ih, trackerServer.GetPeersOpts{}, remote)
	if res.Err != nil {
		writeBencode(w, map[string]any{"failure reason": res.Err.Error()})
		return
	}
	var compact []byte
	for _, p := range res.Peers {
		if p.Addr().Is4() {
			a := p.Addr().As4()
			compact = append(compact, a[:]...)
			compact = append(compact, byte(p.Port()>>8), byte(p.Port()))
		}
	}
	writeBencode(w, map[string]any{
		"interval":   res.Interval.Value,
		"complete":   res.Seeders.Value,
		"incomplete": res.Leechers.Value,
		"peers":      string(compact),
	})
}

func writeBencode(w http.ResponseWriter, v any) {
	b, err := bencode.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(b)
}

// StartTracker starts a tracker on 127.0.0.1 (HTTP and UDP) that tells
// clients to re-announce every interval; it stops when the test ends.
func StartTracker(t testing.TB, interval time.Duration) *Tracker {
	t.Helper()
	tr := &Tracker{Interval: int32(max(1, interval/time.Second)), swarms: make(map[[20]byte]map[netip.AddrPort]bool)}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: httpTracker{tr: tr}, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	tr.HTTPURL = fmt.Sprintf("http://%s/announce", ln.Addr())

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	us := &trUdpServer.Server{
		ConnTracker: newConnTracker(),
		SendResponse: func(_ context.Context, data []byte, addr net.Addr) (int, error) {
			return pc.WriteTo(data, addr)
		},
		Announce: &trackerServer.AnnounceHandler{AnnounceTracker: tr},
	}
	ctx, cancel := context.WithCancel(context.Background())
	wg.Go(func() { _ = trUdpServer.RunSimple(ctx, us, pc, udp.AddrFamilyIpv4) })
	tr.UDPURL = fmt.Sprintf("udp://%s/announce", pc.LocalAddr())
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
		_ = pc.Close()
		wg.Wait()
	})
	return tr
}

type connTracker struct {
	mu  sync.Mutex
	ids map[string]udp.ConnectionId
}

func newConnTracker() *connTracker { return &connTracker{ids: make(map[string]udp.ConnectionId)} }

func (c *connTracker) Add(_ context.Context, addr string, id udp.ConnectionId) error {
	c.mu.Lock()
	c.ids[addr] = id
	c.mu.Unlock()
	return nil
}

func (c *connTracker) Check(_ context.Context, addr string, id udp.ConnectionId) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids[addr] == id, nil
}

// StartDHT starts n DHT nodes on 127.0.0.1 that know each other, with the
// given announce interval; they stop when the test ends.
func StartDHT(t testing.TB, n int, interval time.Duration) []*discovery.DHT {
	t.Helper()
	var nodes []*discovery.DHT
	var addrs []netip.AddrPort
	for i := 0; i < n; i++ {
		d, err := discovery.NewDHT(discovery.DHTConfig{Addr: "127.0.0.1:0", StartingNodes: addrs, AnnounceInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		nodes = append(nodes, d)
		addrs = append(addrs, d.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := n - 1; i > 0; i-- { // node 0 has no starting nodes; the others reach it
		if err := nodes[i].Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n > 1 {
		// Node 0 now knows the others (they queried it): let it look
		// around too, so every routing table is full.
		_ = nodes[0].Bootstrap(ctx)
	}
	return nodes
}

// HangingTracker is a loopback tracker that never answers: its HTTP
// side reads each announce and holds it until the client gives up, its
// UDP side reads every packet and sends nothing back.
type HangingTracker struct {
	// HTTPURL and UDPURL are its announce URLs.
	HTTPURL, UDPURL string
	requests        atomic.Int64
}

// Requests returns how many announces (HTTP requests and UDP packets) it
// has received.
func (h *HangingTracker) Requests() int64 { return h.requests.Load() }

// StartHangingTracker starts a tracker on 127.0.0.1 that never answers; it
// stops when the test ends.
func StartHangingTracker(t testing.TB) *HangingTracker {
	t.Helper()
	h := &HangingTracker{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	srv := &http.Server{
		Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			h.requests.Add(1)
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	h.HTTPURL = fmt.Sprintf("http://%s/announce", ln.Addr())
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			h.requests.Add(1)
		}
	})
	h.UDPURL = fmt.Sprintf("udp://%s/announce", pc.LocalAddr())
	t.Cleanup(func() {
		close(stop)
		_ = srv.Close()
		_ = pc.Close()
		wg.Wait()
	})
	return h
}

// lyingStore is the peer store of a lying DHT node: it answers every
// get_peers with bogus peers and keeps nothing announced to it.
type lyingStore struct {
	bogus func() []netip.AddrPort
}

func (lyingStore) AddPeer(peer_store.InfoHash, krpc.NodeAddr) {}

func (s lyingStore) GetPeers(peer_store.InfoHash) []krpc.NodeAddr {
	var out []krpc.NodeAddr
	for _, ap := range s.bogus() {
		var na krpc.NodeAddr
		na.FromAddrPort(ap)
		out = append(out, na)
	}
	return out
}

// StartLyingDHT starts a DHT swarm on 127.0.0.1 as StartDHT does, of
// honest nodes and liars: nodes that answer every get_peers, for any
// torrent, with the peers bogus returns (called for each answer) and
// forget every announce. It returns the honest nodes; everything stops
// when the test ends.
func StartLyingDHT(t testing.TB, honest, liars int, interval time.Duration, bogus func() []netip.AddrPort) []*discovery.DHT {
	t.Helper()
	var addrs []netip.AddrPort
	var servers []*dht.Server
	for i := 0; i < liars; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sc := dht.NewDefaultServerConfig()
		sc.Conn = pc
		sc.NoSecurity = true
		sc.PeerStore = lyingStore{bogus}
		sc.SendLimiter = rate.NewLimiter(rate.Inf, 0)
		sc.Logger = alog.Default.WithFilterLevel(alog.Disabled)
		known := append([]netip.AddrPort(nil), addrs...)
		sc.StartingNodes = func() ([]dht.Addr, error) {
			var out []dht.Addr
			for _, n := range known {
				out = append(out, dht.NewAddr(net.UDPAddrFromAddrPort(n)))
			}
			return out, nil
		}
		s, err := dht.NewServer(sc)
		if err != nil {
			pc.Close()
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		servers = append(servers, s)
		ap, _ := netip.ParseAddrPort(s.Addr().String())
		addrs = append(addrs, ap)
	}
	var nodes []*discovery.DHT
	for i := 0; i < honest; i++ {
		d, err := discovery.NewDHT(discovery.DHTConfig{Addr: "127.0.0.1:0", StartingNodes: addrs, AnnounceInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		nodes = append(nodes, d)
		addrs = append(addrs, d.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := len(nodes) - 1; i >= 0; i-- {
		if err := nodes[i].Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range servers {
		_, _ = s.BootstrapContext(ctx)
	}
	return nodes
}
