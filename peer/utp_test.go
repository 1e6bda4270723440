package peer_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/internal/interop"
	"github.com/bttspeed/bttspeed/peer"
)

func bothProtocols(c *peer.Config) { c.Protocols = peer.ProtocolTCP | peer.ProtocolUTP }

func TestParseProtocols(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want peer.Protocols
	}{
		{"tcp", peer.ProtocolTCP}, {"utp", peer.ProtocolUTP}, {"tcp,utp", peer.ProtocolTCP | peer.ProtocolUTP}, {"utp, tcp", peer.ProtocolTCP | peer.ProtocolUTP},
	} {
		got, err := peer.ParseProtocols(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	for _, bad := range []string{"", "quic", "tcp,"} {
		_, err := peer.ParseProtocols(bad)
		assert.ErrorIs(t, err, peer.ErrConfig, bad)
	}
	assert.Equal(t, "tcp,utp", (peer.ProtocolTCP | peer.ProtocolUTP).String())
	_, err := peer.NewClient(peer.Config{NoListen: true, Protocols: 8})
	assert.ErrorIs(t, err, peer.ErrConfig)
}

// Ours to ours over uTP alone, encrypted and not, with payments' engine
// paths (choking, the request pipeline) unchanged.
func TestUTPTransfer(t *testing.T) {
	for _, enc := range []peer.Encryption{peer.EncryptionPreferPlain, peer.EncryptionRequire} {
		t.Run(enc.String(), func(t *testing.T) {
			f := newFixture(t, 2<<20+5, 256<<10)
			utpOnly := func(c *peer.Config) { c.Protocols = peer.ProtocolUTP; c.Encryption = enc }
			seeder := newClient(t, utpOnly)
			seed(t, seeder, f)
			leecher := newClient(t, utpOnly)
			dir := t.TempDir()
			tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
			require.NoError(t, err)
			waitDone(t, tor, 60*time.Second)
			requireSameFile(t, f, dir)
		})
	}
}

// With both protocols, a peer whose TCP port refuses is reached over uTP
// on the same port.
func TestUTPWhenTCPRefused(t *testing.T) {
	f := newFixture(t, 1<<20+5, 256<<10)
	seeder := newClient(t, func(c *peer.Config) { c.Protocols = peer.ProtocolUTP })
	seed(t, seeder, f)
	leecher := newClient(t, bothProtocols)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	waitDone(t, tor, 60*time.Second)
	requireSameFile(t, f, dir)
}

// newAnacrolixUTPOnly is a stock anacrolix client on uTP alone: TCP off,
// so nothing reaches it over TCP and it dials nothing over TCP.
func newAnacrolixUTPOnly(t testing.TB, dir string, seed bool) *torrent.Client {
	return newAnacrolixWith(t, dir, seed, utpOnlyAnacrolix)
}

func utpOnlyAnacrolix(cfg *torrent.ClientConfig) {
	cfg.DisableUTP = false
	cfg.DisableTCP = true
}

func anacrolixUTPAddr(t testing.TB, cl *torrent.Client) netip.AddrPort {
	t.Helper()
	for _, a := range cl.ListenAddrs() {
		if a.Network() == "udp" || a.Network() == "utp" {
			ap, err := netip.ParseAddrPort(a.String())
			require.NoError(t, err)
			return ap
		}
	}
	t.Fatal("anacrolix client has no uTP listener")
	return netip.AddrPort{}
}

// Ours (both protocols) and anacrolix (uTP only) reach each other only
// over uTP, both ways.
func TestAnacrolixUTPOnlyToOurs(t *testing.T) {
	f := newFixture(t, 2<<20+999, 256<<10)
	ac := newAnacrolixUTPOnly(t, f.dir, true)
	at, err := ac.AddTorrent(f.mi)
	require.NoError(t, err)
	require.NoError(t, at.VerifyDataContext(context.Background()))
	leecher := newClient(t, bothProtocols)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{anacrolixUTPAddr(t, ac)}})
	require.NoError(t, err)
	waitDone(t, tor, 60*time.Second)
	requireSameFile(t, f, dir)
}

func TestOursToAnacrolixUTPOnly(t *testing.T) {
	f := newFixture(t, 2<<20+777, 256<<10)
	seeder := newClient(t, bothProtocols)
	seed(t, seeder, f)
	dir := t.TempDir()
	ac := newAnacrolixUTPOnly(t, dir, false)
	at, err := ac.AddTorrent(f.mi)
	require.NoError(t, err)
	at.AddPeers([]torrent.PeerInfo{{Addr: &net.UDPAddr{IP: seeder.Addr().Addr().AsSlice(), Port: int(seeder.Addr().Port())}, Trusted: true}})
	<-at.GotInfo()
	at.DownloadAll()
	select {
	case <-at.Complete().On():
	case <-time.After(60 * time.Second):
		t.Fatalf("anacrolix did not finish downloading from us over uTP: %d bytes missing", at.BytesMissing())
	}
	ac.Close()
	requireSameFile(t, f, dir)
}

// Transmission with uTP on; ours dials it over uTP alone.
func TestOursLeechesFromTransmissionUTP(t *testing.T) {
	interop.Require(t, "transmission-daemon", "transmission-remote")
	f := newFixture(t, 2<<20+23, 256<<10)
	tr := interop.StartTransmissionWith(t, f.dir, interop.TransmissionOptions{UTP: true})
	tr.Add(t, writeTorrent(t, f, ""), f.dir)
	tr.Verify(t)
	tr.WaitPercent(t, 100, time.Minute)
	leecher := newClient(t, func(c *peer.Config) { c.Protocols = peer.ProtocolUTP })
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir,
		Peers: []netip.AddrPort{netip.AddrPortFrom(loopback, uint16(tr.PeerPort))}})
	require.NoError(t, err)
	waitDone(t, tor, 3*time.Minute)
	requireSameFile(t, f, dir)
}

// A flood of uTP SYNs, each a new connection id, 2,000 a second from
// ever new ports, costs at most MaxConns handshakes at a time, each for at
// most HandshakeTimeout, and leaves the client serving: a real leecher
// still downloads over uTP meanwhile.
func TestHostileUTPSynFlood(t *testing.T) {
	f := newFixture(t, 1<<20+5, 256<<10)
	seeder := newClient(t, func(c *peer.Config) {
		c.Protocols = peer.ProtocolUTP
		c.HandshakeTimeout = time.Second
		c.MaxConns = 50
	})
	seed(t, seeder, f)
	base := runtime.NumGoroutine()
	target := net.UDPAddrFromAddrPort(seeder.Addr())
	stop := make(chan struct{})
	flooded := make(chan int)
	var peak atomic.Int64
	go func() {
		n := 0
		defer func() { flooded <- n }()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			c, err := net.DialUDP("udp", nil, target)
			if err != nil {
				return
			}
			for range 2 {
				// BEP 29 header: type ST_SYN (4) and version 1, no
				// extension, a random connection id.
				var h [20]byte
				h[0] = 4<<4 | 1
				binary.BigEndian.PutUint16(h[2:], uint16(rand.Uint32()))
				binary.BigEndian.PutUint32(h[4:], uint32(time.Now().UnixMicro()))
				binary.BigEndian.PutUint32(h[12:], 1<<20)
				binary.BigEndian.PutUint16(h[16:], uint16(rand.Uint32()))
				_, _ = c.Write(h[:])
				n++
			}
			c.Close()
			peak.Store(max(peak.Load(), int64(runtime.NumGoroutine()-base)))
		}
	}()
	time.Sleep(500 * time.Millisecond)
	leecher := newClient(t, func(c *peer.Config) { c.Protocols = peer.ProtocolUTP })
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	waitDone(t, tor, 60*time.Second)
	close(stop)
	n := <-flooded
	requireSameFile(t, f, dir)
	t.Logf("%d SYNs sent; at most %d goroutines more than before the flood", n, peak.Load())
	assert.Positive(t, n)
	// 50 handshakes (MaxConns) at a time, each a few goroutines (the
	// pure-Go uTP runs several per connection).
	assert.Less(t, peak.Load(), int64(500), "handshakes in flight are bounded by MaxConns")
}

// uTP listens on the TCP port; a UDP port taken fails a client asked for
// that port, and says so.
func TestUTPSamePort(t *testing.T) {
	cl := newClient(t, bothProtocols)
	pc, err := net.ListenPacket("udp", cl.Addr().String())
	if err == nil {
		pc.Close()
		t.Fatal("the client does not hold UDP on its TCP port")
	}
	pc, err = net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	_, err = peer.NewClient(peer.Config{ListenAddr: pc.LocalAddr().String(), Protocols: peer.ProtocolTCP | peer.ProtocolUTP})
	require.ErrorContains(t, err, "utp listen")
}

// PeerInfo says what each connection runs over and whether RC4 is on,
// on both sides: MSE that chose plaintext is not encrypted. Neither side
// has the data, so the connection stays (two seeds would part).
func TestStatsPeerTransport(t *testing.T) {
	pp, p, r := peer.EncryptionPreferPlain, peer.EncryptionPrefer, peer.EncryptionRequire
	for _, tc := range []struct {
		name             string
		proto            peer.Protocols
		dialer, acceptor peer.Encryption
		wantTransport    string
		wantEncrypted    bool
	}{
		{"tcp-plain", peer.ProtocolTCP, pp, pp, "tcp", false},
		{"tcp-mse-plaintext", peer.ProtocolTCP, p, pp, "tcp", false},
		{"tcp-rc4", peer.ProtocolTCP, r, p, "tcp", true},
		{"utp-plain", peer.ProtocolUTP, pp, pp, "utp", false},
		{"utp-rc4", peer.ProtocolUTP, p, p, "utp", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 64<<10, 16<<10)
			seeder := newClient(t, func(c *peer.Config) { c.Protocols = tc.proto; c.Encryption = tc.acceptor })
			st, err := seeder.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir()})
			require.NoError(t, err)
			leecher := newClient(t, func(c *peer.Config) { c.Protocols = tc.proto; c.Encryption = tc.dialer })
			lt, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
			require.NoError(t, err)
			for _, side := range []struct {
				tor      *peer.Torrent
				outgoing bool
			}{{lt, true}, {st, false}} {
				var ps []peer.PeerInfo
				require.Eventually(t, func() bool {
					ps, err = side.tor.Peers(context.Background())
					return err == nil && len(ps) == 1
				}, 20*time.Second, 10*time.Millisecond)
				assert.Equal(t, side.outgoing, ps[0].Outgoing)
				assert.Equal(t, tc.wantTransport, ps[0].Transport)
				assert.Equal(t, tc.wantEncrypted, ps[0].Encrypted)
			}
		})
	}
}
