package piece

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReviewSharedCompletionAcrossDirs: two storages of one torrent in two
// data directories that share one CompletionDir (what StorageConfig says
// may be shared, and what Config.CompletionDir will pass for every torrent
// of a client) must not take each other's verdicts: the completion
// database is keyed by info hash and piece alone, so the empty directory
// reads as complete, and a client would seed data it does not have.
func TestReviewSharedCompletionAcrossDirs(t *testing.T) {
	src := t.TempDir()
	info, ih := makeTorrent(t, src, 4*BlockSize, 2*BlockSize)
	cdir := t.TempDir()

	seed, err := OpenStorage(StorageConfig{Dir: src, Info: info, InfoHash: ih, CompletionDir: cdir})
	require.NoError(t, err)
	defer seed.Close()
	have, err := seed.VerifyAll(context.Background())
	require.NoError(t, err)
	require.True(t, have.All())

	empty := t.TempDir() // nothing written here
	other, err := OpenStorage(StorageConfig{Dir: empty, Info: info, InfoHash: ih, CompletionDir: cdir})
	require.NoError(t, err)
	defer other.Close()
	assert.True(t, other.Completed().None(), "a directory with no data has no verified piece, whatever another directory's storage verified")
}
