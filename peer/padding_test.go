package peer_test

import (
	"bytes"
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// paddedFixture is a torrent of several files with BEP 47 padding files
// between them, as libtorrent makes them (".pad/<size>"), and one pad
// longer than a piece, so that a piece is all padding.
type paddedFixture struct {
	dir, name string
	info      *metainfo.Info
	mi        *metainfo.MetaInfo
	files     map[string][]byte // the real files, by path below the name
	whole     []byte            // the torrent's bytes, zeros for padding
}

func newPaddedFixture(t testing.TB) *paddedFixture {
	t.Helper()
	const pl = 64 << 10
	f := &paddedFixture{dir: t.TempDir(), name: "padded", files: map[string][]byte{}}
	info := metainfo.Info{Name: f.name, PieceLength: pl}
	add := func(name string, n int) {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		f.files[name] = b
		f.whole = append(f.whole, b...)
		info.Files = append(info.Files, metainfo.FileInfo{Path: []string{name}, Length: int64(n)})
		require.NoError(t, os.MkdirAll(filepath.Join(f.dir, f.name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(f.dir, f.name, name), b, 0o644))
	}
	pad := func(to int) { // to the next multiple of `to` pieces' bytes
		n := (to - len(f.whole)%to) % to
		if n == 0 {
			return
		}
		f.whole = append(f.whole, make([]byte, n)...)
		info.Files = append(info.Files, metainfo.FileInfo{
			Path: []string{".pad", strconv.Itoa(n)}, Length: int64(n),
			ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"},
		})
	}
	add("a.bin", 70000)
	pad(pl)
	add("b.bin", 200000)
	pad(pl)
	add("c.bin", 5000)
	pad(2 * pl) // a piece of padding only
	add("d.bin", 30000)
	var err error
	info.Pieces, err = metainfo.GeneratePieces(bytes.NewReader(f.whole), pl, nil)
	require.NoError(t, err)
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	f.info, f.mi = &info, &metainfo.MetaInfo{InfoBytes: ib}
	return f
}

// requireFiles checks that dir holds exactly the fixture's real files, and
// no padding file.
func (f *paddedFixture) requireFiles(t *testing.T, dir string) {
	t.Helper()
	for name, want := range f.files {
		got, err := os.ReadFile(filepath.Join(dir, f.name, name))
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "%s differs", name)
	}
	_, err := os.Stat(filepath.Join(dir, f.name, ".pad"))
	assert.True(t, os.IsNotExist(err), "no padding file on disk (stat: %v)", err)
}

// TestPaddingDownload: a torrent with BEP 47 padding files, seeded from its
// real files alone (the padding was never on disk), downloads ours to ours;
// neither side creates a padding file, Files lists the pads as Padding,
// and a piece that is all padding is had from the start.
func TestPaddingDownload(t *testing.T) {
	f := newPaddedFixture(t)
	seeder := newClient(t, nil)
	st, err := seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	require.Zero(t, st.Left(), "the seeder verifies padding as zeros")

	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	var pads, real int
	for _, fl := range tor.Files() {
		if fl.Padding() {
			pads++
			assert.Contains(t, fl.Path(), "/.pad/")
		} else {
			real++
		}
	}
	assert.Equal(t, 3, pads)
	assert.Equal(t, 4, real)
	waitDone(t, tor, 30*time.Second)
	f.requireFiles(t, dir)
	f.requireFiles(t, f.dir)
}

// TestPaddingNeverRequested: our leecher, fed by a raw seeder, never asks
// for a block that is all padding, yet every piece verifies and the files
// come out whole.
func TestPaddingNeverRequested(t *testing.T) {
	f := newPaddedFixture(t)
	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir})
	require.NoError(t, err)
	l := piece.LayoutOf(f.info)
	pad := piece.PaddingOf(f.info)
	padBlocks := 0
	for _, n := range pad.PaddingBlocks(l) {
		padBlocks += n
	}
	require.Greater(t, padBlocks, 4, "the fixture has blocks of padding")

	r := dialRawID(t, leecher.Addr().String(), f.mi.HashInfoBytes(), true, false, "-RW0001-"+randomSuffix())
	haveAllAndUnchoke(r)
	var requested, padRequested int
	go func() {
		<-tor.Done()
		_ = r.c.SetReadDeadline(time.Now()) // end the loop below
	}()
	for {
		var m pp.Message
		if err := r.d.Decode(&m); err != nil {
			break
		}
		if m.Type != pp.Request {
			continue
		}
		b := piece.Block{Piece: int(m.Index), Begin: uint32(m.Begin), Length: uint32(m.Length)}
		requested++
		if pad.BlockIsPadding(l, b) {
			padRequested++
		}
		off := l.Offset(b)
		msg := msgOf(pp.Piece, []uint32{uint32(m.Index), uint32(m.Begin)}, f.whole[off:off+int64(b.Length)])
		r.write(msg)
	}
	waitDone(t, tor, 5*time.Second)
	assert.Zero(t, padRequested, "padding blocks requested")
	blocks := 0
	for i := range l.NumPieces() {
		blocks += l.NumBlocks(i)
	}
	assert.Equal(t, blocks-padBlocks, requested, "each real block once")
	f.requireFiles(t, dir)
}
