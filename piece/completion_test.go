package piece

import (
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBatchCompletion: verdicts are seen at once, committed together, kept
// across a reopen, and written in anacrolix's format (its own store reads
// them, and ours reads its).
func TestBatchCompletion(t *testing.T) {
	dir := t.TempDir()
	ih := metainfo.Hash{1, 2, 3}
	c, err := openBatchCompletion(dir)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, c.Set(metainfo.PieceKey{InfoHash: ih, Index: i}, i%3 != 0))
	}
	got, err := c.Get(metainfo.PieceKey{InfoHash: ih, Index: 4})
	require.NoError(t, err)
	assert.Equal(t, storage.Completion{Complete: true, Ok: true}, got, "a pending verdict")
	got, err = c.Get(metainfo.PieceKey{InfoHash: ih, Index: 100})
	require.NoError(t, err)
	assert.False(t, got.Ok, "a piece never set")
	require.NoError(t, c.Close())
	require.Error(t, c.Set(metainfo.PieceKey{InfoHash: ih, Index: 1}, true), "Set after Close")

	theirs, err := storage.NewBoltPieceCompletion(dir)
	require.NoError(t, err)
	for i := range 100 {
		got, err := theirs.Get(metainfo.PieceKey{InfoHash: ih, Index: i})
		require.NoError(t, err)
		assert.Equal(t, storage.Completion{Complete: i%3 != 0, Ok: true}, got, "piece %d through anacrolix's store", i)
	}
	require.NoError(t, theirs.Set(metainfo.PieceKey{InfoHash: ih, Index: 0}, true))
	require.NoError(t, theirs.Close())

	c, err = openBatchCompletion(dir)
	require.NoError(t, err)
	defer c.Close()
	for i := range 100 {
		got, err := c.Get(metainfo.PieceKey{InfoHash: ih, Index: i})
		require.NoError(t, err)
		assert.Equal(t, storage.Completion{Complete: i%3 != 0 || i == 0, Ok: true}, got, "piece %d reopened", i)
	}
}
