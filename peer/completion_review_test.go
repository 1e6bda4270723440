package peer_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// TestReviewCompletionDirAcrossDataDirs: with Config.CompletionDir, one
// database holds every torrent's verdicts, keyed by info hash and piece
// alone. A torrent seeded from one directory, removed without its data,
// then added again into another (empty) directory reads the first
// directory's verdicts: it is "complete" with no data, announces every
// piece, and serves read errors or another file's bytes to its peers (and
// to paying buyers). The verdicts must be tied to the directory (key or
// bucket by data dir, or record the dir per torrent and drop on mismatch).
func TestReviewCompletionDirAcrossDataDirs(t *testing.T) {
	f := newFixture(t, 300_000, 16<<10)
	cdir := t.TempDir()
	empty := t.TempDir()
	cl := newClient(t, func(c *peer.Config) { c.CompletionDir = cdir })
	tor := seed(t, cl, f)
	require.NoError(t, cl.Remove(tor.InfoHash(), false))

	again, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: empty})
	require.NoError(t, err)
	select {
	case <-again.Done():
		t.Errorf("a torrent added into an empty directory is complete: %d bytes left", again.Left())
	default:
	}
	assert.Equal(t, f.info.Length, again.Left(), "nothing of it is in %s", empty)
}
