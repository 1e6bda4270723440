package peer_test

import (
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// escapingInfos are info dictionaries that try to write outside the
// download directory or are otherwise refused, as a .torrent or a magnet
// link would bring them.
func escapingInfos() []struct {
	name string
	info map[string]any
	want error
} {
	hashes := strings.Repeat("h", 20)
	single := func(name string) map[string]any {
		return map[string]any{"name": name, "length": 1, "piece length": 16384, "pieces": hashes}
	}
	multi := func(paths ...[]string) map[string]any {
		var files []any
		for _, p := range paths {
			files = append(files, map[string]any{"length": 1, "path": p})
		}
		return map[string]any{"name": "t", "files": files, "piece length": 16384, "pieces": hashes}
	}
	p := func(c ...string) []string { return c }
	return []struct {
		name string
		info map[string]any
		want error
	}{
		{"name ..", single(".."), piece.ErrUnsafePath},
		{"absolute name", single("/tmp/x"), piece.ErrUnsafePath},
		{"name with a NUL", single("x\x00y"), piece.ErrUnsafePath},
		{"name of 1000 bytes", single(strings.Repeat("n", 1000)), piece.ErrUnsafePath},
		{"name with a drive letter", single("C:x"), piece.ErrUnsafePath},
		{"name of dots", single("...."), piece.ErrUnsafePath},
		{".. in a path", multi(p("..", "..", "x")), piece.ErrUnsafePath},
		{"absolute path", multi(p("/etc", "passwd")), piece.ErrUnsafePath},
		{"separator in a component", multi(p("a/../../../x")), piece.ErrUnsafePath},
		{"backslashes", multi(p(`..\..\x`)), piece.ErrUnsafePath},
		{"Windows drive in a path", multi(p("C:", "Windows", "x")), piece.ErrUnsafePath},
		{"newline in a path", multi(p("a\nb")), piece.ErrUnsafePath},
		{"a file that is also a folder", multi(p("a"), p("a", "b")), piece.ErrUnsafePath},
		{"path.utf-8 that escapes", map[string]any{"name": "t", "piece length": 16384, "pieces": hashes,
			"files": []any{map[string]any{"length": 1, "path": p("ok"), "path.utf-8": p("..", "x")}}}, piece.ErrUnsafePath},
		{"v2 with no piece length (crashed anacrolix's file list)", map[string]any{"name": "a", "meta version": 2}, piece.ErrUnsupported},
		{"a piece of 1 TiB", map[string]any{"name": "a", "length": 1 << 40, "piece length": 1 << 40, "pieces": hashes}, piece.ErrUnsupported},
	}
}

// TestTorrentPathsRefused: a .torrent whose files would land outside the
// download directory, or in odd places, is refused by AddTorrent with a
// clear error and nothing is written.
func TestTorrentPathsRefused(t *testing.T) {
	cl := newClient(t, nil)
	for _, tc := range escapingInfos() {
		t.Run(tc.name, func(t *testing.T) {
			torrent, err := bencode.Marshal(map[string]any{"info": tc.info})
			require.NoError(t, err)
			parent := t.TempDir()
			dir := filepath.Join(parent, "downloads")
			_, err = cl.AddTorrent(t.Context(), peer.TorrentSpec{TorrentBytes: torrent, Dir: dir})
			require.ErrorIs(t, err, peer.ErrBadTorrent)
			require.ErrorIs(t, err, tc.want)
			t.Logf("%v", err)
			entries, err := os.ReadDir(parent)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing written")
		})
	}
}

// TestMagnetPathsRefused: the same info dictionaries, fetched by a magnet
// link from a peer (their hashes match: the magnet link names them). The
// torrent stops with a clear error and nothing is written.
func TestMagnetPathsRefused(t *testing.T) {
	cl := newClient(t, nil)
	for _, tc := range escapingInfos() {
		t.Run(tc.name, func(t *testing.T) {
			info, err := bencode.Marshal(tc.info)
			require.NoError(t, err)
			ih := sha1.Sum(info)
			parent := t.TempDir()
			dir := filepath.Join(parent, "downloads")
			tor, err := cl.AddTorrent(t.Context(), peer.TorrentSpec{Magnet: fmt.Sprintf("magnet:?xt=urn:btih:%x", ih), Dir: dir})
			require.NoError(t, err)
			r := dialRawID(t, cl.Addr().String(), ih, true, true, "-XX0000-"+randomSuffix())
			r.write(extMsg(0, []byte(fmt.Sprintf("d1:md11:ut_metadatai3ee13:metadata_sizei%dee", len(info)))))
			m, ok := r.recv(5*time.Second, pp.Extended)
			for ok && m.ExtendedID != 3 {
				m, ok = r.recv(5*time.Second, pp.Extended)
			}
			require.True(t, ok, "asked for the metadata")
			r.write(extMsg(1, append([]byte(fmt.Sprintf("d8:msg_typei1e5:piecei0e10:total_sizei%dee", len(info))), info...)))
			require.Eventually(t, func() bool { return tor.Err() != nil }, 5*time.Second, 5*time.Millisecond, "the torrent stops")
			require.ErrorIs(t, tor.Err(), tc.want)
			t.Logf("%v", tor.Err())
			entries, err := os.ReadDir(parent)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing written")
			require.NoError(t, tor.Close())
		})
	}
}
