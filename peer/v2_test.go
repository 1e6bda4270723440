package peer_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// v2Fixture is a BEP 52 torrent (hybrid or pure v2) of several files in
// dir/name, made with piece.NewV2MetaInfo.
type v2Fixture struct {
	dir, name string
	files     map[string][]byte
	mi        *metainfo.MetaInfo
	info      *metainfo.Info
}

func newV2Fixture(t testing.TB, hybrid bool, sizes ...int) *v2Fixture {
	t.Helper()
	const pl = 64 << 10
	f := &v2Fixture{dir: t.TempDir(), name: "v2", files: map[string][]byte{}}
	var in []piece.V2Input
	for k, n := range sizes {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		name := fmt.Sprintf("%c.bin", 'a'+k)
		f.files[name] = b
		require.NoError(t, os.MkdirAll(filepath.Join(f.dir, f.name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(f.dir, f.name, name), b, 0o644))
		in = append(in, piece.V2Input{Path: []string{name}, Length: int64(n), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}})
	}
	var err error
	f.mi, f.info, err = piece.NewV2MetaInfo(f.name, pl, in, hybrid)
	require.NoError(t, err)
	return f
}

// requireFiles checks that dir holds exactly the fixture's files, and no
// padding file.
func (f *v2Fixture) requireFiles(t *testing.T, dir string) {
	t.Helper()
	for name, want := range f.files {
		got, err := os.ReadFile(filepath.Join(dir, f.name, name))
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "%s differs", name)
	}
	_, err := os.Stat(filepath.Join(dir, f.name, ".pad"))
	assert.True(t, os.IsNotExist(err), "no padding file on disk (stat: %v)", err)
}

// TestV2Download: a hybrid torrent of several files (through its v1 layout
// and hashes) and a pure v2 one (its merkle piece layers) download ours to
// ours from a seeder that verified its files from disk; the files come out
// whole, no padding file is written, and Files lists them in the v1 order
// with their padding.
func TestV2Download(t *testing.T) {
	for _, hybrid := range []bool{true, false} {
		t.Run(map[bool]string{true: "hybrid", false: "pure v2"}[hybrid], func(t *testing.T) {
			f := newV2Fixture(t, hybrid, 300000, 20000, 500000+7)
			seeder := newClient(t, nil)
			st, err := seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
			require.NoError(t, err)
			require.Zero(t, st.Left(), "the seeder verifies its files")

			leecher := newClient(t, nil)
			dir := t.TempDir()
			tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
			require.NoError(t, err)
			var names []string
			for _, fl := range tor.Files() {
				names = append(names, fl.DisplayPath())
				assert.Equal(t, fl.Padding(), fl.DisplayPath()[0] == '.', fl.DisplayPath())
			}
			assert.Equal(t, []string{"a.bin", ".pad/27680", "b.bin", ".pad/45536", "c.bin"}, names)
			waitDone(t, tor, 30*time.Second)
			f.requireFiles(t, dir)
			f.requireFiles(t, f.dir)
		})
	}
}

// TestV2BadData: a raw peer that sends a pure v2 torrent's blocks with a
// byte changed gets no piece accepted and is banned; the download then
// completes from an honest seeder.
func TestV2BadData(t *testing.T) {
	f := newV2Fixture(t, false, 100000, 3000)
	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir})
	require.NoError(t, err)
	left := tor.Left()
	view, err := piece.V1View(f.info)
	require.NoError(t, err)
	l := piece.LayoutOf(view)
	var whole []byte
	for _, fi := range view.UpvertedFiles() {
		if piece.IsPadding(fi) {
			whole = append(whole, make([]byte, fi.Length)...)
		} else {
			whole = append(whole, f.files[fi.DisplayPath(view)]...)
		}
	}
	// From an address of its own: the ban covers it, not the seeder's.
	r := dialRawFrom(t, netip.MustParseAddr("127.0.0.7"), leecher.Addr().String(), tor.InfoHash(), true, false, "-RW0001-"+randomSuffix())
	haveAllAndUnchoke(r)
	served := 0
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m pp.Message
		if err := r.d.Decode(&m); err != nil {
			break // banned: closed
		}
		if m.Type != pp.Request {
			continue
		}
		b := piece.Block{Piece: int(m.Index), Begin: uint32(m.Begin), Length: uint32(m.Length)}
		data := bytes.Clone(whole[l.Offset(b) : l.Offset(b)+int64(b.Length)])
		data[0] ^= 0xff
		r.write(msgOf(pp.Piece, []uint32{uint32(m.Index), uint32(m.Begin)}, data))
		served++
	}
	assert.Positive(t, served)
	assert.Equal(t, left, tor.Left(), "no bad piece accepted")

	seeder := newClient(t, nil)
	_, err = seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	tor.AddPeers(seeder.Addr())
	waitDone(t, tor, 30*time.Second)
	f.requireFiles(t, dir)
}

// TestV2MagnetHashRequests: a pure v2 torrent with files of several
// pieces downloads from a magnet: its metadata matched by the info hash it
// goes by, its piece layers fetched from the seeder with hash requests and
// checked against the files' roots, then its pieces.
func TestV2MagnetHashRequests(t *testing.T) {
	f := newV2Fixture(t, false, 200000, 10, 300000)
	seeder := newClient(t, nil)
	st, err := seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	leecher := newClient(t, nil)
	dir := t.TempDir()
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&x.pe=%s", st.InfoHash().HexString(), seeder.Addr())
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{Magnet: magnet, Dir: dir})
	require.NoError(t, err)
	waitDone(t, tor, 30*time.Second)
	f.requireFiles(t, dir)
}

// TestV2WrongHashes: a leecher whose .torrent lacks its piece layers asks
// a peer for them; a peer that answers with hashes that do not prove out
// to the files' roots is dropped and nothing of it is used; an honest
// seeder's answer then lets the download complete.
func TestV2WrongHashes(t *testing.T) {
	f := newV2Fixture(t, false, 200000, 300000)
	stripped := *f.mi
	stripped.PieceLayers = nil
	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: &stripped, Dir: dir})
	require.NoError(t, err)
	left := tor.Left()
	r := dialRawFrom(t, netip.MustParseAddr("127.0.0.9"), leecher.Addr().String(), tor.InfoHash(), true, false, "-RW0001-"+randomSuffix())
	haveAllAndUnchoke(r)
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	asked := 0
	for {
		var m pp.Message
		if err := r.d.Decode(&m); err != nil {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "dropped, not left waiting: %v", err)
			break
		}
		require.NotEqual(t, pp.Request, m.Type, "no block asked for before its hash is known")
		if m.Type != pp.HashRequest {
			continue
		}
		asked++
		req := piece.HashRequest{Root: m.PiecesRoot, BaseLayer: uint32(m.BaseLayer), Index: uint32(m.Index), Length: uint32(m.Length), ProofLayers: uint32(m.ProofLayers)}
		r.write(hashMsg(pp.Hashes, req, make([][32]byte, m.Length+m.ProofLayers)))
	}
	assert.Equal(t, 2, asked, "one request per file of several pieces")
	assert.Equal(t, left, tor.Left())

	seeder := newClient(t, nil)
	_, err = seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	tor.AddPeers(seeder.Addr())
	waitDone(t, tor, 30*time.Second)
	f.requireFiles(t, dir)
}
