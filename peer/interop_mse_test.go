package peer_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/internal/interop"
	"github.com/bttspeed/bttspeed/internal/legacy"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery/discoverytest"
)

// Encrypted handshakes with real clients, both ways. Each client is set to
// require encryption (RC4 where it can say so), and ours to each policy
// that must reach it.

var loopback = netip.MustParseAddr("127.0.0.1")

func TestAria2RequireCryptoLeechesFromOurs(t *testing.T) {
	interop.Require(t, "aria2c")
	for _, policy := range []peer.Encryption{peer.EncryptionPreferPlain, peer.EncryptionRequire} {
		t.Run(policy.String(), func(t *testing.T) {
			f := newFixture(t, 2<<20+29, 256<<10)
			tracker := discoverytest.StartTracker(t, time.Second)
			seeder := newClient(t, func(c *peer.Config) { c.Encryption = policy })
			_, err := seeder.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true, Trackers: []string{tracker.HTTPURL}})
			require.NoError(t, err)
			require.Eventually(t, func() bool { return len(tracker.Announces()) > 0 }, 10*time.Second, 20*time.Millisecond)
			dir := t.TempDir()
			interop.Aria2LeechWith(t, writeTorrent(t, f, tracker.HTTPURL), dir, 3*time.Minute, true)
			requireSameFile(t, f, dir)
		})
	}
}

// Transmission with encryption required; our side dials it (see
// interop_test.go), with the default policy: plaintext first, then MSE
// when Transmission hangs up.
func TestTransmissionRequiredEncryptionLeechesFromOurs(t *testing.T) {
	interop.Require(t, "transmission-daemon", "transmission-remote")
	f := newFixture(t, 2<<20+17, 256<<10)
	seeder := newClient(t, nil)
	tor := seed(t, seeder, f)
	dir := t.TempDir()
	tr := interop.StartTransmissionWith(t, dir, interop.TransmissionOptions{Encryption: 2})
	tr.Add(t, writeTorrent(t, f, ""), dir)
	tor.AddPeers(netip.AddrPortFrom(loopback, uint16(tr.PeerPort)))
	tr.WaitPercent(t, 100, 3*time.Minute)
	requireSameFile(t, f, dir)
}

func TestOursLeechesFromTransmissionRequiredEncryption(t *testing.T) {
	interop.Require(t, "transmission-daemon", "transmission-remote")
	f := newFixture(t, 2<<20+23, 256<<10)
	tr := interop.StartTransmissionWith(t, f.dir, interop.TransmissionOptions{Encryption: 2})
	tr.Add(t, writeTorrent(t, f, ""), f.dir)
	tr.Verify(t)
	tr.WaitPercent(t, 100, time.Minute)

	leecher := newClient(t, func(c *peer.Config) { c.Encryption = peer.EncryptionRequire })
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir,
		Peers: []netip.AddrPort{netip.AddrPortFrom(loopback, uint16(tr.PeerPort))}})
	require.NoError(t, err)
	waitDone(t, tor, 3*time.Minute)
	requireSameFile(t, f, dir)
}

// newAnacrolixRequire is newAnacrolix with header obfuscation required and
// RC4 the only method it provides or takes.
func newAnacrolixRequire(t *testing.T, dir string, seed bool) *torrent.Client {
	t.Helper()
	return newAnacrolixWith(t, dir, seed, requireRC4)
}

func TestOursToAnacrolixRequireEncryption(t *testing.T) {
	f := newFixture(t, 2<<20+777, 256<<10)
	seeder := newClient(t, nil)
	seed(t, seeder, f)
	dir := t.TempDir()
	ac := newAnacrolixRequire(t, dir, false)
	at, err := ac.AddTorrent(f.mi)
	require.NoError(t, err)
	at.AddPeers([]torrent.PeerInfo{{Addr: net.TCPAddrFromAddrPort(seeder.Addr()), Trusted: true}})
	<-at.GotInfo()
	at.DownloadAll()
	select {
	case <-at.Complete().On():
	case <-time.After(60 * time.Second):
		t.Fatalf("anacrolix did not finish downloading from us: %d bytes missing", at.BytesMissing())
	}
	ac.Close()
	requireSameFile(t, f, dir)
}

func TestAnacrolixRequireEncryptionToOurs(t *testing.T) {
	for _, policy := range []peer.Encryption{peer.EncryptionPreferPlain, peer.EncryptionPrefer, peer.EncryptionRequire} {
		t.Run(policy.String(), func(t *testing.T) {
			f := newFixture(t, 2<<20+999, 256<<10)
			ac := newAnacrolixRequire(t, f.dir, true)
			at, err := ac.AddTorrent(f.mi)
			require.NoError(t, err)
			require.NoError(t, at.VerifyDataContext(context.Background()))
			leecher := newClient(t, func(c *peer.Config) { c.Encryption = policy })
			dir := t.TempDir()
			tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{anacrolixAddr(t, ac)}})
			require.NoError(t, err)
			waitDone(t, tor, 60*time.Second)
			requireSameFile(t, f, dir)
		})
	}
}

// A client that requires encryption refuses one that never encrypts, and
// its log says why.
func TestEncryptionRefusalLogged(t *testing.T) {
	f := newFixture(t, 256<<10, 64<<10)
	sink := &logSink{}
	seeder := newClient(t, func(c *peer.Config) {
		c.Encryption = peer.EncryptionRequire
		c.Logger = slog.New(sink)
	})
	seed(t, seeder, f)
	leecher := newClient(t, func(c *peer.Config) { c.Encryption = peer.EncryptionNever })
	_, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	sink.requireLogged(t, "127.0.0.1", "connection refused", "plaintext handshake refused", "encryption is required")
}

// newAnacrolixWith is newAnacrolix with the config changed by mod.
func newAnacrolixWith(t testing.TB, dir string, seed bool, mod func(*torrent.ClientConfig)) *torrent.Client {
	t.Helper()
	cfg := legacy.Config(dir, nil)
	cfg.Seed = seed
	mod(cfg)
	cl, err := torrent.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	return cl
}
