package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/peer"
)

// TestRunFiles: -files downloads the chosen file of three, byte for byte,
// and stops once it is verified; a file the torrent does not have is a
// setup error naming what it has.
func TestRunFiles(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	root := filepath.Join(src, "album")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "cd2"), 0o755))
	files := map[string][]byte{"a.flac": make([]byte, 300<<10), "b.flac": make([]byte, 200<<10), filepath.Join("cd2", "c.flac"): make([]byte, 500<<10)}
	for name, b := range files {
		_, _ = rand.Read(b)
		require.NoError(t, os.WriteFile(filepath.Join(root, name), b, 0o644))
	}
	info := metainfo.Info{PieceLength: 64 << 10}
	require.NoError(t, info.BuildFromFilePath(root))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	tf := writeTorrent(t, &metainfo.MetaInfo{InfoBytes: ib})

	seed, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	defer seed.Close()
	_, err = seed.AddTorrent(ctx, peer.TorrentSpec{TorrentFile: tf, Dir: src, Verify: true})
	require.NoError(t, err)

	dl := t.TempDir()
	var out, errOut syncBuffer
	code := run(ctx, []string{"-dir", dl, "-listen", "127.0.0.1:0", "-peer", seed.Addr().String(), "-files", "cd2/c.flac", tf}, &out, &errOut, envOf(nil))
	require.Equal(t, cli.ExitOK, code, "stderr: %s", &errOut)
	assert.Contains(t, out.String(), "complete: album: 1 of 3 files, 500.0 KiB")
	got, err := os.ReadFile(filepath.Join(dl, "album", "cd2", "c.flac"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(files[filepath.Join("cd2", "c.flac")], got), "the chosen file, byte for byte")
	assert.Contains(t, out.String(), "9/16 pieces", "c.flac's 8 pieces and the one it shares with b.flac")
	// a.flac (bytes 0–300 KiB) shares no piece with c.flac (500 KiB on):
	// never fetched.
	if b, err := os.ReadFile(filepath.Join(dl, "album", "a.flac")); err == nil {
		assert.False(t, bytes.Equal(files["a.flac"], b), "a.flac was not downloaded")
	}

	out, errOut = syncBuffer{}, syncBuffer{}
	code = run(ctx, []string{"-dir", t.TempDir(), "-listen", "127.0.0.1:0", "-peer", seed.Addr().String(), "-files", "nope.flac,1", tf}, &out, &errOut, envOf(nil))
	assert.Equal(t, cli.ExitSetup, code)
	assert.Contains(t, errOut.String(), "-files: nope.flac named no file of the torrent; it has: 0 album/a.flac")
}

// TestRunBadMagnet: a magnet link that panics anacrolix's parser (a base32
// info hash with padding) is a setup error, not a crash.
func TestRunBadMagnet(t *testing.T) {
	var out, errOut syncBuffer
	code := run(context.Background(), []string{"-dir", t.TempDir(), "-listen", "127.0.0.1:0", "-peer", "127.0.0.1:1", "magnet:?xt=urn:btih:AEBAGBAFAYDQQCIKBMGA2DQPCAIREEY="}, &out, &errOut, envOf(nil))
	assert.Equal(t, cli.ExitSetup, code)
	assert.Contains(t, errOut.String(), "malformed magnet link")
}
