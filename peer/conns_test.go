package peer_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// TestIncomingHandshakesCapped: connections that never finish their
// handshake are capped at MaxConns; past that they are closed at once
// instead of each holding a goroutine and a descriptor for the handshake
// timeout.
func TestIncomingHandshakesCapped(t *testing.T) {
	cl := newClient(t, func(c *peer.Config) {
		c.MaxConns = 10
		c.HandshakeTimeout = 3 * time.Second
	})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 30; i++ {
		c, err := net.Dial("tcp", cl.Addr().String())
		require.NoError(t, err)
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	closedAtOnce := 0
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				mu.Lock()
				closedAtOnce++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 20, closedAtOnce, "the connections past MaxConns are closed at once, the others wait for the handshake timeout")
}

// TestIdlePeerReplacedWhenFull: a torrent full of connections that idle
// without payload lets a new honest peer in, in place of one of them.
func TestIdlePeerReplacedWhenFull(t *testing.T) {
	f := newFixture(t, 1<<20, 64<<10)
	logs := &logSink{}
	seeder := newClient(t, func(c *peer.Config) {
		c.MaxConnsPerTorrent = 3
		c.Logger = slog.New(logs)
		peer.SetMinEvictAge(c, 100*time.Millisecond)
	})
	seed(t, seeder, f)
	var idle []*rawPeer
	for i := 0; i < 3; i++ {
		idle = append(idle, dialRawID(t, seeder.Addr().String(), f.mi.HashInfoBytes(), true, false, "-XX0000-idle-idle-0"+string(rune('0'+i))))
	}
	time.Sleep(200 * time.Millisecond)
	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	waitDone(t, tor, 10*time.Second)
	requireSameFile(t, f, dir)
	replaced := 0
	for _, r := range idle {
		if _, ok := logs.find(r.c.LocalAddr().String(), "replaced by a new peer"); ok {
			replaced++
		}
	}
	assert.Equal(t, 1, replaced, "one idle peer made room")
}

// TestBannedPeerStaysOut: a peer banned for bad data that comes back from
// another port with the same peer id is refused.
func TestBannedPeerStaysOut(t *testing.T) {
	f := newFixture(t, 1<<20, 64<<10)
	logs := &logSink{}
	leecher := newClient(t, func(c *peer.Config) { c.Logger = slog.New(logs) })
	_, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir()})
	require.NoError(t, err)
	const id = "-XX0000-liarliarliar"
	r := dialRawID(t, leecher.Addr().String(), f.mi.HashInfoBytes(), true, false, id)
	haveAllAndUnchoke(r)
	junk := make([]byte, 16<<10)
	for {
		m, ok := r.recv(10*time.Second, pp.Request)
		if !ok {
			break
		}
		_, _ = rand.Read(junk)
		r.write(msgOf(pp.Piece, []uint32{uint32(m.Index), uint32(m.Begin)}, junk[:m.Length]))
	}
	logs.requireLogged(t, r.c.LocalAddr().String(), "failed its hash")
	again := dialRawID(t, leecher.Addr().String(), f.mi.HashInfoBytes(), true, false, id)
	expectClosed(t, again.c, 5*time.Second)
	logs.requireLogged(t, again.c.LocalAddr().String(), "refusing connection", "banned")
}

// TestBannedAddressStaysOut: a peer at 127.0.0.2 banned for bad data
// comes back from a new port with a new peer id and is refused; the
// addresses of 127.0.0.2 the torrent knew are forgotten and new ones are
// not taken, so none is dialed; an honest peer dialing in from 127.0.0.3
// is let in, and an honest seeder at 127.0.0.3 is dialed and downloaded
// from.
func TestBannedAddressStaysOut(t *testing.T) {
	f := newFixture(t, 1<<20, 64<<10)
	logs := &logSink{}
	leecher := newClient(t, func(c *peer.Config) { c.Logger = slog.New(logs) })
	dir := t.TempDir()
	attacker, honestIP := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	listening := netip.AddrPortFrom(attacker, 1) // refuses: kept to dial again
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{listening}})
	require.NoError(t, err)
	require.True(t, tor.Knows(listening))
	ih := f.mi.HashInfoBytes()

	r := dialRawFrom(t, attacker, leecher.Addr().String(), ih, true, false, "-XX0000-"+randomSuffix())
	haveAllAndUnchoke(r)
	junk := make([]byte, 16<<10)
	for {
		m, ok := r.recv(10*time.Second, pp.Request)
		if !ok {
			break
		}
		_, _ = rand.Read(junk)
		r.write(msgOf(pp.Piece, []uint32{uint32(m.Index), uint32(m.Begin)}, junk[:m.Length]))
	}
	t.Logf("%s", logs.requireLogged(t, r.c.LocalAddr().String(), "failed its hash"))

	// Back from a new port with a new peer id: refused.
	again := dialRawFrom(t, attacker, leecher.Addr().String(), ih, true, false, "-XX0000-"+randomSuffix())
	expectClosed(t, again.c, 5*time.Second)
	t.Logf("%s", logs.requireLogged(t, again.c.LocalAddr().String(), "refusing connection", "banned"))
	// Never dialed: what it had of 127.0.0.2 is forgotten, no new one kept.
	assert.False(t, tor.Knows(listening), "the banned address known before is forgotten")
	tor.AddPeers(netip.AddrPortFrom(attacker, 2), netip.AddrPortFrom(attacker, 6881))
	assert.False(t, tor.Knows(netip.AddrPortFrom(attacker, 2)), "a new address of the banned one is not kept")
	assert.False(t, tor.Knows(netip.AddrPortFrom(attacker, 6881)))

	// An honest peer at 127.0.0.3 is unaffected, dialing in or dialed.
	in := dialRawFrom(t, honestIP, leecher.Addr().String(), ih, true, false, "-XX0000-"+randomSuffix())
	in.write(msgOf(pp.HaveNone, nil, nil))
	require.Eventually(t, func() bool {
		ps, err := tor.Peers(t.Context())
		require.NoError(t, err)
		for _, p := range ps {
			if p.Addr.String() == in.c.LocalAddr().String() {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "the honest peer from 127.0.0.3 is let in")
	honest := newClient(t, func(c *peer.Config) { c.ListenAddr = netip.AddrPortFrom(honestIP, 0).String() })
	seedCopy(t, honest, f)
	tor.AddPeers(honest.Addr())
	waitDone(t, tor, 30*time.Second)
	requireSameFile(t, f, dir)
}

// TestIdleConnectionsAreCheap: connections that move no blocks keep small
// buffers (each used to take 512 KiB of buffers from the start).
func TestIdleConnectionsAreCheap(t *testing.T) {
	f := newFixture(t, 1<<20, 64<<10)
	cl := newClient(t, func(c *peer.Config) { c.MaxConnsPerTorrent = 300 })
	tor := seed(t, cl, f)
	base := settledHeap()
	const n = 200
	for i := 0; i < n; i++ {
		r := dialRawID(t, cl.Addr().String(), f.mi.HashInfoBytes(), true, true, fmt.Sprintf("-XX0000-%012d", i))
		r.write(msgOf(pp.HaveNone, nil, nil))
	}
	require.Eventually(t, func() bool {
		ps, err := tor.Peers(t.Context())
		return err == nil && len(ps) == n
	}, 10*time.Second, 10*time.Millisecond)
	grown := int64(settledHeap()) - int64(base)
	t.Logf("%d idle connections: heap +%.1f MiB", n, float64(grown)/(1<<20))
	assert.Less(t, grown, int64(n*64<<10), "under 64 KiB per idle connection")
}
