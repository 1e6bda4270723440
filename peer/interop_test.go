package peer_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/internal/interop"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery/discoverytest"
)

// writeTorrent writes the fixture's .torrent, with an announce URL if
// given, and returns its path.
func writeTorrent(t *testing.T, f *fixture, announce string) string {
	t.Helper()
	mi := *f.mi
	mi.Announce = announce
	path := filepath.Join(t.TempDir(), "t.torrent")
	out, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, mi.Write(out))
	require.NoError(t, out.Close())
	return path
}

// Transmission 3 never dials peers on 127.0.0.0/8 that it learns of, so in
// both directions our side dials it.

func TestTransmissionLeechesFromOurs(t *testing.T) {
	interop.Require(t, "transmission-daemon", "transmission-remote")
	f := newFixture(t, 4<<20+17, 256<<10)
	seeder := newClient(t, nil)
	tor := seed(t, seeder, f)
	dir := t.TempDir()
	tr := interop.StartTransmission(t, dir)
	tr.Add(t, writeTorrent(t, f, ""), dir)
	tor.AddPeers(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(tr.PeerPort)))
	tr.WaitPercent(t, 100, 3*time.Minute)
	requireSameFile(t, f, dir)
}

func TestOursLeechesFromTransmission(t *testing.T) {
	interop.Require(t, "transmission-daemon", "transmission-remote")
	f := newFixture(t, 4<<20+23, 256<<10)
	tr := interop.StartTransmission(t, f.dir)
	tr.Add(t, writeTorrent(t, f, ""), f.dir)
	tr.Verify(t)
	tr.WaitPercent(t, 100, time.Minute)

	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir,
		Peers: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(tr.PeerPort))}})
	require.NoError(t, err)
	waitDone(t, tor, 3*time.Minute)
	requireSameFile(t, f, dir)
}

// aria2 finds peers only through a tracker, and opens with an encrypted
// handshake before falling back to plaintext.
func TestAria2LeechesFromOurs(t *testing.T) {
	interop.Require(t, "aria2c")
	f := newFixture(t, 4<<20+29, 256<<10)
	tracker := discoverytest.StartTracker(t, time.Second)
	seeder := newClient(t, nil)
	_, err := seeder.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true, Trackers: []string{tracker.HTTPURL}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(tracker.Announces()) > 0 }, 10*time.Second, 20*time.Millisecond)
	dir := t.TempDir()
	interop.Aria2Leech(t, writeTorrent(t, f, tracker.HTTPURL), dir, 3*time.Minute)
	requireSameFile(t, f, dir)
}
