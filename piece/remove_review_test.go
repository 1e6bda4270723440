package piece

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReviewRemoveDataSparesPaddingPaths: a BEP 47 padding file is never
// created, so its path may name a file that is not the torrent's (CheckInfo
// does not check padding paths for collisions: "pads of one size share a
// name"). Removing the torrent with its data must not delete it: a hostile
// .torrent named like another download in the same directory, with a
// padding file named like that download's file, deletes it on removal.
func TestReviewRemoveDataSparesPaddingPaths(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "shared")
	require.NoError(t, os.MkdirAll(root, 0o755))
	victim := filepath.Join(root, "keep.txt") // another torrent's, or the user's
	require.NoError(t, os.WriteFile(victim, []byte("not the hostile torrent's"), 0o644))

	const pl = 16 << 10
	info := &metainfo.Info{
		Name:        "shared",
		PieceLength: pl,
		Pieces:      make([]byte, 20),
		Files: []metainfo.FileInfo{
			{Path: []string{"b.bin"}, Length: 1024},
			{Path: []string{"keep.txt"}, Length: pl - 1024, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}},
		},
	}
	require.NoError(t, CheckInfo(info))
	require.NoError(t, RemoveData(StorageConfig{Dir: dir, Info: info, InfoHash: metainfo.Hash{7}}))
	_, err := os.Stat(victim)
	assert.NoError(t, err, "a file the torrent never wrote, named by its padding, was deleted")
}
