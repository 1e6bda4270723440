package peer_test

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery"
	"github.com/bttspeed/bttspeed/peer/discovery/discoverytest"
)

// Faults: connections cut or frozen mid-block and mid-piece, peers that
// vanish, trackers that fail or hang, DHT nodes and trackers that hand out
// bogus peers. Each download must still complete, byte-identical, from
// what is left, in bounded time.

// faultDeadline bounds every download of these tests.
const faultDeadline = 20 * time.Second

// downState follows the stream a proxy forwards from a seeder to a
// leecher: the handshake, then length-prefixed messages.
type downState struct {
	handshake int     // handshake bytes still to come
	hdr       [5]byte // the message header so far
	hdrN      int
	left      int // bytes of the message body still to come
	typ       pp.MessageType
	body      int // bytes of the body seen
	index     [4]byte
	// blocks counts the blocks of each piece seen whole.
	blocks map[uint32]int
}

func newDownState() *downState { return &downState{handshake: 68, blocks: map[uint32]int{}} }

// step takes one byte.
func (s *downState) step(b byte) {
	switch {
	case s.handshake > 0:
		s.handshake--
	case s.left == 0:
		s.hdr[s.hdrN] = b
		s.hdrN++
		if s.hdrN == 4 && binary.BigEndian.Uint32(s.hdr[:4]) == 0 {
			s.hdrN = 0 // a keep-alive
		} else if s.hdrN == 5 {
			s.left = int(binary.BigEndian.Uint32(s.hdr[:4])) - 1
			s.typ, s.body, s.hdrN = pp.MessageType(s.hdr[4]), 0, 0
		}
	default:
		if s.typ == pp.Piece && s.body < 4 {
			s.index[s.body] = b
		}
		s.body++
		s.left--
		if s.left == 0 && s.typ == pp.Piece {
			s.blocks[binary.BigEndian.Uint32(s.index[:])]++
		}
	}
}

// midBlockOfStartedPiece reports whether the stream is 8,000 bytes into a
// block of a piece of which a whole block already went through: a cut
// here is mid-block and mid-piece.
func (s *downState) midBlockOfStartedPiece() bool {
	return s.typ == pp.Piece && s.left > 0 && s.body == 8+8000 && s.blocks[binary.BigEndian.Uint32(s.index[:])] >= 1
}

// faultProxy forwards connections to a target on 127.0.0.1; when the
// downstream reaches the fault, it cuts the connection (closes both
// sides) or freezes it (forwards nothing more either way, closes
// nothing).
type faultProxy struct {
	ln     net.Listener
	target string
	freeze bool
	at     func(*downState) bool
	hits   atomic.Int32
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func startFaultProxy(t *testing.T, target netip.AddrPort, freeze bool, at func(*downState) bool) *faultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &faultProxy{ln: ln, target: target.String(), freeze: freeze, at: at}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) addr() netip.AddrPort { return netip.MustParseAddrPort(p.ln.Addr().String()) }

func (p *faultProxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		frozen := make(chan struct{})
		var once sync.Once
		fault := func() {
			once.Do(func() {
				p.hits.Add(1)
				if p.freeze {
					close(frozen)
				} else {
					down.Close()
					up.Close()
				}
			})
		}
		p.wg.Go(func() { // leecher → seeder, untouched until the fault
			buf := make([]byte, 32<<10)
			for {
				n, err := down.Read(buf)
				select {
				case <-frozen:
					_, _ = io.Copy(io.Discard, down)
					return
				default:
				}
				if n > 0 {
					if _, err := up.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					up.Close()
					return
				}
			}
		})
		p.wg.Go(func() { // seeder → leecher, watched
			st := newDownState()
			buf := make([]byte, 32<<10)
			for {
				n, err := up.Read(buf)
				for i := 0; i < n; i++ {
					st.step(buf[i])
					if p.at(st) {
						_, _ = down.Write(buf[:i+1])
						fault()
						if p.freeze {
							_, _ = io.Copy(io.Discard, up)
						}
						return
					}
				}
				if n > 0 {
					if _, err := down.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					down.Close()
					return
				}
			}
		})
	}
}

// faultLeecher is a leecher with short timeouts.
func faultLeecher(t *testing.T) *peer.Client {
	return newClient(t, func(c *peer.Config) {
		c.RequestTimeout = time.Second
		c.HandshakeTimeout = time.Second
	})
}

// TestConnectionFaults: the connection to the only seeder a leecher knows
// is cut or frozen mid-block of a piece it has begun; a second seeder
// joins after; the download completes, byte-identical.
func TestConnectionFaults(t *testing.T) {
	f := newFixture(t, 2<<20, 64<<10)
	first := newClient(t, func(c *peer.Config) { c.UploadRate = 4 << 20 })
	seedCopy(t, first, f)
	second := newClient(t, nil)
	seedCopy(t, second, f)
	for _, freeze := range []bool{false, true} {
		name := map[bool]string{false: "cut mid-block, mid-piece", true: "frozen mid-block, mid-piece"}[freeze]
		t.Run(name, func(t *testing.T) {
			px := startFaultProxy(t, first.Addr(), freeze, (*downState).midBlockOfStartedPiece)
			l := faultLeecher(t)
			dir := t.TempDir()
			start := time.Now()
			tor, err := l.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{px.addr()}})
			require.NoError(t, err)
			require.Eventually(t, func() bool { return px.hits.Load() > 0 }, 10*time.Second, time.Millisecond, "the fault struck")
			st, err := tor.Stats(t.Context())
			require.NoError(t, err)
			require.False(t, st.Complete)
			tor.AddPeers(second.Addr())
			waitDone(t, tor, faultDeadline)
			requireSameFile(t, f, dir)
			t.Logf("%s after %d of %d pieces: completed in %v", name, st.PiecesDone, st.Pieces, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestSeedersVanish: of three seeders a leecher downloads from, two go
// away mid-transfer (one closes, one stops answering without closing);
// the download completes from the third.
func TestSeedersVanish(t *testing.T) {
	f := newFixture(t, 4<<20, 64<<10)
	var seeders []*peer.Client
	for i := 0; i < 3; i++ {
		s := newClient(t, func(c *peer.Config) { c.UploadRate = 2 << 20 })
		seedCopy(t, s, f)
		seeders = append(seeders, s)
	}
	var moved atomic.Int64
	frozen := startFaultProxy(t, seeders[1].Addr(), true, func(s *downState) bool {
		return s.typ == pp.Piece && s.left == 1 && moved.Add(1) == 20 // after 20 blocks
	})
	l := faultLeecher(t)
	dir := t.TempDir()
	start := time.Now()
	tor, err := l.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeders[0].Addr(), frozen.addr(), seeders[2].Addr()}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := tor.Stats(t.Context())
		return err == nil && st.PiecesDone >= 8
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, seeders[0].Close())
	waitDone(t, tor, faultDeadline)
	requireSameFile(t, f, dir)
	assert.Equal(t, int32(1), frozen.hits.Load(), "one seeder froze")
	t.Logf("completed in %v with one seeder closed and one frozen", time.Since(start).Round(time.Millisecond))
}

// TestTrackersFailOrHang: of the trackers a leecher announces to, one
// answers every announce with a failure and two (HTTP and UDP) never
// answer; the one that works still brings the seeder, the download
// completes, and closing the torrent does not wait on the hanging ones.
func TestTrackersFailOrHang(t *testing.T) {
	good := discoverytest.StartTracker(t, time.Second)
	failing := discoverytest.StartTracker(t, time.Second)
	failing.SetFailing(true)
	hanging := discoverytest.StartHangingTracker(t)
	f := newFixture(t, 1<<20, 64<<10)
	cfg := func(c *peer.Config) {
		c.Tracker = discovery.TrackerConfig{MinInterval: time.Second, Timeout: time.Second}
	}
	seeder := newClient(t, cfg)
	_, err := seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true, Trackers: []string{good.HTTPURL}})
	require.NoError(t, err)
	l := newClient(t, cfg)
	dir := t.TempDir()
	start := time.Now()
	tor, err := l.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir,
		Trackers: []string{hanging.HTTPURL, hanging.UDPURL, failing.HTTPURL, failing.UDPURL, good.UDPURL}})
	require.NoError(t, err)
	waitDone(t, tor, faultDeadline)
	requireSameFile(t, f, dir)
	t.Logf("completed in %v; the hanging tracker saw %d announces", time.Since(start).Round(time.Millisecond), hanging.Requests())
	assert.Positive(t, hanging.Requests(), "the hanging tracker was asked")
	closing := time.Now()
	require.NoError(t, tor.Close())
	assert.Less(t, time.Since(closing), 3*time.Second, "closing does not wait on a hanging tracker")
}

// TestBogusPeers: a source floods a torrent with 100,000 bogus peers —
// addresses that refuse, one that accepts and never answers, ourselves:
// the list of peers to dial stays bounded, and once the real seeder is
// named too the download completes in bounded time.
func TestBogusPeers(t *testing.T) {
	f := newFixture(t, 1<<20, 64<<10)
	seeder := newClient(t, nil)
	seedCopy(t, seeder, f)
	bogus, blackhole := bogusPeers(t, 100_000)
	l := faultLeecher(t)
	dir := t.TempDir()
	start := time.Now()
	tor, err := l.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir,
		Sources: []discovery.Source{discovery.Manual(append(bogus, blackhole, l.Addr()))}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return tor.KnownPeers() > 0 }, 5*time.Second, time.Millisecond)
	assert.LessOrEqual(t, tor.KnownPeers(), peer.MaxKnownPeers)
	time.Sleep(500 * time.Millisecond) // let it dial a good part of them
	tor.AddPeers(seeder.Addr())
	waitDone(t, tor, faultDeadline)
	requireSameFile(t, f, dir)
	assert.LessOrEqual(t, tor.KnownPeers(), peer.MaxKnownPeers)
	t.Logf("completed in %v after 100,000 bogus peers; %d kept to dial", time.Since(start).Round(time.Millisecond), tor.KnownPeers())
}

// bogusPeers returns n addresses on 127.0.0.0/8 that refuse connections,
// and one that accepts and then says nothing. They all use the port of a
// listener the test holds on 127.0.0.1, which keeps any other process
// from listening on that port of the other loopback addresses.
func bogusPeers(t *testing.T, n int) ([]netip.AddrPort, netip.AddrPort) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range held {
			c.Close()
		}
	})
	hole := netip.MustParseAddrPort(ln.Addr().String())
	var out []netip.AddrPort
	for i := 0; len(out) < n; i++ {
		a := netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)})
		out = append(out, netip.AddrPortFrom(a, hole.Port()))
	}
	return out, hole
}

// TestLyingDHT: half the DHT swarm answers every get_peers with bogus
// peers (refusing addresses, one that accepts and never answers); the
// leecher still finds the seeder through the honest nodes and completes.
func TestLyingDHT(t *testing.T) {
	bogus, blackhole := bogusPeers(t, 50)
	lies := append(bogus[:len(bogus):len(bogus)], blackhole) // read by the liars at once: never appended to
	var answers atomic.Int64
	nodes := discoverytest.StartLyingDHT(t, 3, 3, time.Second, func() []netip.AddrPort {
		answers.Add(1)
		return lies
	})
	f := newFixture(t, 1<<20, 64<<10)
	seeder := newClient(t, func(c *peer.Config) { c.DHT = nodes[0] })
	_, err := seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	l := newClient(t, func(c *peer.Config) {
		c.DHT = nodes[2]
		c.HandshakeTimeout = time.Second
	})
	dir := t.TempDir()
	start := time.Now()
	tor, err := l.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir})
	require.NoError(t, err)
	waitDone(t, tor, faultDeadline)
	requireSameFile(t, f, dir)
	t.Logf("completed in %v; the liars answered %d times with %d bogus peers", time.Since(start).Round(time.Millisecond), answers.Load(), len(lies))
	assert.Positive(t, answers.Load(), "the liars were asked")
}
