package peer_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/internal/interop"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery/discoverytest"
	"github.com/bttspeed/bttspeed/piece"
)

// Padded and hybrid torrents with the stock clients here. Neither
// Transmission 3.00 nor aria2 1.36 knows BEP 47 or BEP 52: they take a
// padding file for a file of zeros (written to disk, requested, served),
// and neither takes a hybrid .torrent: Transmission 3 refuses it ("invalid
// or corrupt torrent file"; hybrid support came with Transmission 4), and
// aria2 logs "Checksum error detected" and connects to nobody. So hybrid
// and pure v2 torrents are tested ours to ours (v2_test.go), and here the
// padding that a hybrid's v1 part carries, in a v1 torrent.

// writeV2Torrent writes the fixture's .torrent, with an announce URL if
// given, and returns its path.
func writeV2Torrent(t *testing.T, f *v2Fixture, announce string) string {
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

// withPadFiles copies the fixture's files to a new directory with its
// padding files written out as zeros: what a client that does not know
// BEP 47 padding needs on disk to seed.
func (f *v2Fixture) withPadFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	view, err := piece.V1View(f.info)
	require.NoError(t, err)
	for _, fi := range view.UpvertedFiles() {
		path := filepath.Join(append([]string{dir, f.name}, fi.BestPath()...)...)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		data := make([]byte, fi.Length)
		if !piece.IsPadding(fi) {
			data = f.files[fi.DisplayPath(view)]
		}
		require.NoError(t, os.WriteFile(path, data, 0o644))
	}
	return dir
}

// paddedV2Fixture is a v1 torrent with BEP 47 padding: a hybrid's v1 part
// alone, which the stock clients here read.
func paddedV2Fixture(t *testing.T) *v2Fixture {
	t.Helper()
	f := newV2Fixture(t, true, 700000, 20000, 900000+3)
	view, err := piece.V1View(f.info)
	require.NoError(t, err)
	v1 := *view
	ib, err := bencode.Marshal(v1)
	require.NoError(t, err)
	f.mi = &metainfo.MetaInfo{InfoBytes: ib}
	f.info = &v1
	return f
}

// TestTransmissionLeechesPaddedFromOurs: Transmission asks for the padding
// too, and ours serves it as zeros without a padding file of its own.
func TestTransmissionLeechesPaddedFromOurs(t *testing.T) {
	interop.Require(t, "transmission-daemon", "transmission-remote")
	f := paddedV2Fixture(t)
	seeder := newClient(t, nil)
	tor, err := seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	require.Zero(t, tor.Left())
	dir := t.TempDir()
	tr := interop.StartTransmission(t, dir)
	tr.Add(t, writeV2Torrent(t, f, ""), dir)
	tor.AddPeers(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(tr.PeerPort)))
	tr.WaitPercent(t, 100, 3*time.Minute)
	for name, want := range f.files {
		got, err := os.ReadFile(filepath.Join(dir, f.name, name))
		require.NoError(t, err)
		require.Equal(t, want, got, name)
	}
}

// TestOursLeechesPaddedFromTransmission: Transmission seeds the padding
// files it keeps on disk; ours never asks for them nor writes them.
func TestOursLeechesPaddedFromTransmission(t *testing.T) {
	interop.Require(t, "transmission-daemon", "transmission-remote")
	f := paddedV2Fixture(t)
	src := f.withPadFiles(t)
	tr := interop.StartTransmission(t, src)
	tr.Add(t, writeV2Torrent(t, f, ""), src)
	tr.Verify(t)
	tr.WaitPercent(t, 100, time.Minute)

	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir,
		Peers: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(tr.PeerPort))}})
	require.NoError(t, err)
	waitDone(t, tor, 3*time.Minute)
	f.requireFiles(t, dir)
	f.requireFiles(t, f.dir)
}

func TestAria2LeechesPaddedFromOurs(t *testing.T) {
	interop.Require(t, "aria2c")
	f := paddedV2Fixture(t)
	tracker := discoverytest.StartTracker(t, time.Second)
	seeder := newClient(t, nil)
	_, err := seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true, Trackers: []string{tracker.HTTPURL}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(tracker.Announces()) > 0 }, 10*time.Second, 20*time.Millisecond)
	dir := t.TempDir()
	interop.Aria2Leech(t, writeV2Torrent(t, f, tracker.HTTPURL), dir, 3*time.Minute)
	for name, want := range f.files {
		got, err := os.ReadFile(filepath.Join(dir, f.name, name))
		require.NoError(t, err)
		require.Equal(t, want, got, name)
	}
}
