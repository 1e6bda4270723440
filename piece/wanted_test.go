package piece

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSetWantedFiles checks that Prepare skips unwanted files and that one
// written only for a boundary piece is not preallocated to its length.
func TestSetWantedFiles(t *testing.T) {
	src := t.TempDir()
	root := filepath.Join(src, "d")
	require.NoError(t, os.MkdirAll(root, 0o755))
	sizes := []int{3*BlockSize + 100, 2 * BlockSize, 5 * BlockSize}
	for i, n := range sizes {
		data := make([]byte, n)
		_, _ = rand.Read(data)
		require.NoError(t, os.WriteFile(filepath.Join(root, string(rune('a'+i))), data, 0o644))
	}
	info := &metainfo.Info{PieceLength: 2 * BlockSize}
	require.NoError(t, info.BuildFromFilePath(root))
	ib, err := bencodeInfo(info)
	require.NoError(t, err)
	ih := metainfo.HashBytes(ib)

	dst := t.TempDir()
	st, err := OpenStorage(StorageConfig{Dir: dst, Info: info, InfoHash: ih})
	require.NoError(t, err)
	defer st.Close()
	st.SetWantedFiles(func(f int) bool { return f == 1 })
	require.NoError(t, st.Prepare())
	_, err = os.Stat(filepath.Join(dst, "d", "a"))
	assert.ErrorIs(t, err, os.ErrNotExist, "an unwanted file is not created ahead")
	fi, err := os.Stat(filepath.Join(dst, "d", "b"))
	require.NoError(t, err)
	assert.Equal(t, int64(sizes[1]), fi.Size(), "a wanted file is preallocated")

	// Piece 1 spans the end of a and the start of b; write it.
	l := st.Layout()
	buf := make([]byte, BlockSize)
	for j := 0; j < l.NumBlocks(1); j++ {
		require.NoError(t, st.WriteBlock(l.Block(1, j), buf))
	}
	fi, err = os.Stat(filepath.Join(dst, "d", "a"))
	require.NoError(t, err)
	assert.Equal(t, int64(sizes[0]), fi.Size(), "written up to its end")
	_, err = os.Stat(filepath.Join(dst, "d", "c"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	// A block of piece 3, inside c, which is unwanted: c is not
	// preallocated, so it ends where that block does.
	b := l.Block(3, 0)
	require.NoError(t, st.WriteBlock(b, buf[:b.Length]))
	fi, err = os.Stat(filepath.Join(dst, "d", "c"))
	require.NoError(t, err)
	cOff := int64(sizes[0] + sizes[1])
	assert.Equal(t, l.Offset(b)+int64(b.Length)-cOff, fi.Size())
	assert.Less(t, fi.Size(), int64(sizes[2]))
}
