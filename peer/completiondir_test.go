package peer

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClientCompletionDir: with Config.CompletionDir, torrents of
// different directories keep their completion in one database there,
// and none in their own directories.
func TestClientCompletionDir(t *testing.T) {
	cdir := t.TempDir()
	cl, err := NewClient(Config{NoListen: true, CompletionDir: cdir})
	require.NoError(t, err)
	for range 3 {
		spec := scaleSpec(t, 20<<10)
		tor, err := cl.AddTorrent(context.Background(), spec)
		require.NoError(t, err)
		<-tor.Done()
		assert.NoDirExists(t, filepath.Join(spec.Dir, ".bttspeed"))
	}
	require.NoError(t, cl.Close())
	assert.FileExists(t, filepath.Join(cdir, ".torrent.bolt.db"))
}
