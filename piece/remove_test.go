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

// TestRemoveData: the files and their emptied directories go, a file
// that is not the torrent's stays, and the completion is forgotten.
func TestRemoveData(t *testing.T) {
	src := t.TempDir()
	root := filepath.Join(src, "d")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	for _, p := range []string{"a", filepath.Join("sub", "b")} {
		b := make([]byte, 40<<10)
		_, _ = rand.Read(b)
		require.NoError(t, os.WriteFile(filepath.Join(root, p), b, 0o644))
	}
	info := &metainfo.Info{PieceLength: 16 << 10}
	require.NoError(t, info.BuildFromFilePath(root))
	ib, err := bencodeInfo(info)
	require.NoError(t, err)
	cfg := StorageConfig{Dir: src, Info: info, InfoHash: metainfo.HashBytes(ib)}
	st, err := OpenStorage(cfg)
	require.NoError(t, err)
	_, err = st.VerifyAll(t.Context())
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.NoError(t, os.WriteFile(filepath.Join(root, "mine.txt"), []byte("not the torrent's"), 0o644))

	require.NoError(t, RemoveData(cfg))
	_, err = os.Stat(filepath.Join(root, "a"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(root, "sub"))
	assert.ErrorIs(t, err, os.ErrNotExist, "emptied directory removed")
	_, err = os.Stat(filepath.Join(root, "mine.txt"))
	assert.NoError(t, err, "a file not in the torrent stays")
	st, err = OpenStorage(cfg)
	require.NoError(t, err)
	defer st.Close()
	assert.True(t, st.Completed().None(), "completion forgotten")
	require.NoError(t, RemoveData(StorageConfig{Dir: t.TempDir(), Info: info, InfoHash: cfg.InfoHash, CompletionDir: t.TempDir()}), "nothing there: no error")
}
