package peer

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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

// TestRemoveSharedCompletion: removing one torrent's data while another
// torrent of the client keeps the same completion database open forgets
// only the removed torrent's pieces, at once (it used to open the
// database a second time and wait on its lock), and the other stays
// complete.
func TestRemoveSharedCompletion(t *testing.T) {
	for _, shared := range []string{"CompletionDir", "one data directory"} {
		t.Run(shared, func(t *testing.T) {
			cfg := Config{NoListen: true}
			dir := t.TempDir()
			if shared == "CompletionDir" {
				cfg.CompletionDir = t.TempDir()
			}
			cl, err := NewClient(cfg)
			require.NoError(t, err)
			defer cl.Close()
			a, b := scaleSpecIn(t, dir, "a", 40<<10), scaleSpecIn(t, dir, "b", 40<<10)
			ta, err := cl.AddTorrent(context.Background(), a)
			require.NoError(t, err)
			tb, err := cl.AddTorrent(context.Background(), b)
			require.NoError(t, err)
			<-ta.Done()
			<-tb.Done()

			start := time.Now()
			require.NoError(t, cl.Remove(ta.InfoHash(), true))
			assert.Less(t, time.Since(start), 500*time.Millisecond, "waited on the database's lock")
			assert.NoFileExists(t, filepath.Join(dir, "a"))

			// The other is still complete, from its records alone.
			require.NoError(t, cl.Remove(tb.InfoHash(), false))
			b.Verify = false
			tb, err = cl.AddTorrent(context.Background(), b)
			require.NoError(t, err)
			select {
			case <-tb.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the torrent kept was not complete from its records")
			}
			// The removed one, its data written back, starts from nothing.
			a2 := scaleSpecIn(t, dir, "a", 40<<10)
			a2.MetaInfo, a2.Verify = a.MetaInfo, false
			ta, err = cl.AddTorrent(context.Background(), a2)
			require.NoError(t, err)
			assert.Equal(t, int64(40<<10), ta.Left(), "the removed torrent's records were kept")
		})
	}
}
