package piece

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// makeTorrent writes a file of size bytes in dir and returns its info.
func makeTorrent(t testing.TB, dir string, size int64, pieceLen int64) (*metainfo.Info, metainfo.Hash) {
	t.Helper()
	data := make([]byte, size)
	_, err := rand.Read(data)
	require.NoError(t, err)
	path := filepath.Join(dir, "data.bin")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	info := &metainfo.Info{PieceLength: pieceLen}
	require.NoError(t, info.BuildFromFilePath(path))
	var mi metainfo.MetaInfo
	mi.InfoBytes, err = bencodeInfo(info)
	require.NoError(t, err)
	return info, mi.HashInfoBytes()
}

func TestStorageSeedLeechResume(t *testing.T) {
	src := t.TempDir()
	info, ih := makeTorrent(t, src, 5*BlockSize+123, 2*BlockSize)
	l := LayoutOf(info)
	require.Equal(t, 3, l.NumPieces())

	seed, err := OpenStorage(StorageConfig{Dir: src, Info: info, InfoHash: ih})
	require.NoError(t, err)
	defer seed.Close()
	assert.True(t, seed.Completed().None(), "nothing is trusted before it is verified")
	have, err := seed.VerifyAll(context.Background())
	require.NoError(t, err)
	assert.True(t, have.All())

	dst := t.TempDir()
	leech, err := OpenStorage(StorageConfig{Dir: dst, Info: info, InfoHash: ih})
	require.NoError(t, err)
	// Copy pieces 0 and 2 only, block by block.
	for _, i := range []int{0, 2} {
		for j := 0; j < l.NumBlocks(i); j++ {
			b := l.Block(i, j)
			buf := make([]byte, b.Length)
			require.NoError(t, seed.ReadBlock(b, buf))
			require.NoError(t, leech.WriteBlock(b, buf))
		}
		ok, err := leech.VerifyPiece(i)
		require.NoError(t, err)
		assert.True(t, ok)
	}
	ok, err := leech.VerifyPiece(1)
	require.NoError(t, err)
	assert.False(t, ok, "piece 1 was never written")
	require.NoError(t, leech.Close())
	require.NoError(t, leech.Close(), "Close is idempotent")

	// Reopen: the verified pieces are remembered.
	again, err := OpenStorage(StorageConfig{Dir: dst, Info: info, InfoHash: ih})
	require.NoError(t, err)
	defer again.Close()
	got := again.Completed()
	assert.True(t, got.Has(0))
	assert.False(t, got.Has(1))
	assert.True(t, got.Has(2))
}

func TestStorageCorruptPiece(t *testing.T) {
	src := t.TempDir()
	info, ih := makeTorrent(t, src, 4*BlockSize, 2*BlockSize)
	s, err := OpenStorage(StorageConfig{Dir: src, Info: info, InfoHash: ih})
	require.NoError(t, err)
	defer s.Close()
	ok, err := s.VerifyPiece(1)
	require.NoError(t, err)
	require.True(t, ok)
	junk := make([]byte, BlockSize)
	require.NoError(t, s.WriteBlock(Block{Piece: 1, Begin: 0, Length: BlockSize}, junk))
	ok, err = s.VerifyPiece(1)
	require.NoError(t, err)
	assert.False(t, ok)

	assert.ErrorIs(t, s.WriteBlock(Block{Piece: 9, Begin: 0, Length: BlockSize}, junk), ErrBlock)
	assert.ErrorIs(t, s.ReadBlock(Block{Piece: 0, Begin: 0, Length: BlockSize}, junk[:10]), ErrBlock)
	_, err = s.VerifyPiece(-1)
	assert.ErrorIs(t, err, ErrBlock)
}

// TestCompletePiece: a sum computed by the writer is checked against the
// piece's hash and recorded like VerifyPiece's verdict, which survives a
// reopen.
func TestCompletePiece(t *testing.T) {
	src := t.TempDir()
	info, ih := makeTorrent(t, src, 4*BlockSize, 2*BlockSize)
	data, err := os.ReadFile(filepath.Join(src, "data.bin"))
	require.NoError(t, err)
	dst := t.TempDir()
	s, err := OpenStorage(StorageConfig{Dir: dst, Info: info, InfoHash: ih})
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		piece int
		sum   [20]byte
		want  bool
	}{
		{"the right sum", 0, sha1.Sum(data[:2*BlockSize]), true},
		{"another piece's sum", 1, sha1.Sum(data[:2*BlockSize]), false},
		{"the right sum after a wrong one", 1, sha1.Sum(data[2*BlockSize:]), true},
	} {
		ok, err := s.CompletePiece(tc.piece, tc.sum)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, ok, tc.name)
	}
	_, err = s.CompletePiece(2, [20]byte{})
	assert.ErrorIs(t, err, ErrBlock)
	_, err = s.CompletePiece(-1, [20]byte{})
	assert.ErrorIs(t, err, ErrBlock)
	require.NoError(t, s.Close())
	again, err := OpenStorage(StorageConfig{Dir: dst, Info: info, InfoHash: ih})
	require.NoError(t, err)
	defer again.Close()
	assert.True(t, again.Completed().All(), "both verdicts recorded")
}

// TestPrepare: the default backend creates and preallocates the files
// before the first block; the data and the completions are untouched.
func TestPrepare(t *testing.T) {
	src := t.TempDir()
	info, ih := makeTorrent(t, src, 4*BlockSize+9, 2*BlockSize)
	dst := t.TempDir()
	s, err := OpenStorage(StorageConfig{Dir: dst, Info: info, InfoHash: ih})
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dst, "data.bin"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing created at open")
	require.NoError(t, s.Prepare())
	fi, err := os.Stat(filepath.Join(dst, "data.bin"))
	require.NoError(t, err)
	assert.Equal(t, int64(4*BlockSize+9), fi.Size())
	ok, err := s.VerifyPiece(0)
	require.NoError(t, err)
	assert.False(t, ok, "a prepared file holds no data")
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Prepare(), os.ErrClosed, "closed: a clear error")

	// Another backend: nothing to do.
	m, err := OpenStorage(StorageConfig{Dir: t.TempDir(), Info: info, InfoHash: ih, Mmap: true, CompletionDir: t.TempDir()})
	require.NoError(t, err)
	defer m.Close()
	assert.NoError(t, m.Prepare())
}

func TestStorageBackends(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  StorageConfig
	}{{"mmap", StorageConfig{Mmap: true}}, {"anacrolix file", StorageConfig{AnacrolixFile: true}}, {"ours", StorageConfig{}}} {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			info, ih := makeTorrent(t, src, 3*BlockSize+5, BlockSize)
			cfg := tc.cfg
			cfg.Dir, cfg.Info, cfg.InfoHash, cfg.CompletionDir = src, info, ih, t.TempDir()
			s, err := OpenStorage(cfg)
			require.NoError(t, err)
			have, err := s.VerifyAll(context.Background())
			require.NoError(t, err)
			assert.True(t, have.All())
			// Copy to a fresh directory through the backend and verify.
			dcfg := cfg
			dcfg.Dir, dcfg.CompletionDir = t.TempDir(), t.TempDir()
			d, err := OpenStorage(dcfg)
			require.NoError(t, err)
			l := s.Layout()
			for i := 0; i < l.NumPieces(); i++ {
				for j := 0; j < l.NumBlocks(i); j++ {
					b := l.Block(i, j)
					buf := make([]byte, b.Length)
					require.NoError(t, s.ReadBlock(b, buf))
					require.NoError(t, d.WriteBlock(b, buf))
				}
			}
			have, err = d.VerifyAll(context.Background())
			require.NoError(t, err)
			assert.True(t, have.All())
			require.NoError(t, d.Close())
			require.NoError(t, s.Close())
		})
	}
}

func TestStorageMultiFile(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "t", "sub"), 0o755))
	for i, size := range []int{5000, 0, 40000, 123} {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		require.NoError(t, os.WriteFile(filepath.Join(src, "t", "sub", fmt.Sprintf("f%d", i)), data, 0o644))
	}
	info := &metainfo.Info{PieceLength: BlockSize}
	require.NoError(t, info.BuildFromFilePath(filepath.Join(src, "t")))
	ib, err := bencodeInfo(info)
	require.NoError(t, err)
	ih := metainfo.HashBytes(ib)
	s, err := OpenStorage(StorageConfig{Dir: src, Info: info, InfoHash: ih})
	require.NoError(t, err)
	defer s.Close()
	have, err := s.VerifyAll(context.Background())
	require.NoError(t, err)
	assert.True(t, have.All(), "pieces spanning several files verify")

	// Runs that cross file boundaries write correctly.
	d, err := OpenStorage(StorageConfig{Dir: t.TempDir(), Info: info, InfoHash: ih})
	require.NoError(t, err)
	defer d.Close()
	l := s.Layout()
	for i := 0; i < l.NumPieces(); i++ {
		b := l.Block(i, 0)
		buf := make([]byte, b.Length)
		require.NoError(t, s.ReadBlock(b, buf))
		require.NoError(t, d.WriteRun(i, 0, [][]byte{buf}))
	}
	have, err = d.VerifyAll(context.Background())
	require.NoError(t, err)
	assert.True(t, have.All())
}

func TestCheckInfoRefusesEscapes(t *testing.T) {
	base := metainfo.Info{Name: "t", PieceLength: BlockSize, Pieces: make([]byte, 20)}
	tests := []struct {
		name   string
		mod    func(*metainfo.Info)
		unsafe bool
	}{
		{"dot dot in path", func(i *metainfo.Info) { i.Files = []metainfo.FileInfo{{Length: 1, Path: []string{"..", "x"}}} }, true},
		{"absolute component", func(i *metainfo.Info) { i.Files = []metainfo.FileInfo{{Length: 1, Path: []string{"/etc/passwd"}}} }, true},
		{"separator inside", func(i *metainfo.Info) { i.Files = []metainfo.FileInfo{{Length: 1, Path: []string{"a/../../b"}}} }, true},
		{"empty path", func(i *metainfo.Info) { i.Files = []metainfo.FileInfo{{Length: 1, Path: nil}} }, true},
		{"dot dot name", func(i *metainfo.Info) { i.Name = ".."; i.Length = 1 }, true},
		{"nul in name", func(i *metainfo.Info) { i.Name = "a\x00b"; i.Length = 1 }, true},
		{"fine", func(i *metainfo.Info) { i.Files = []metainfo.FileInfo{{Length: 1, Path: []string{"dir", "f.txt"}}} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info := base
			tc.mod(&info)
			err := CheckInfo(&info)
			if tc.unsafe {
				assert.ErrorIs(t, err, ErrUnsafePath)
				_, err = OpenStorage(StorageConfig{Dir: t.TempDir(), Info: &info})
				assert.ErrorIs(t, err, ErrUnsafePath)
			} else {
				assert.NoError(t, err)
			}
		})
	}
	bad := base
	bad.Length = 1
	bad.Pieces = make([]byte, 19)
	assert.ErrorIs(t, CheckInfo(&bad), ErrNoHashes)
}

func TestBlockHashes(t *testing.T) {
	src := t.TempDir()
	info, ih := makeTorrent(t, src, 3*BlockSize, 2*BlockSize)
	s, err := OpenStorage(StorageConfig{Dir: src, Info: info, InfoHash: ih})
	require.NoError(t, err)
	defer s.Close()
	hs, err := s.BlockHashes(1)
	require.NoError(t, err)
	require.Len(t, hs, 1)
	buf := make([]byte, BlockSize)
	require.NoError(t, s.ReadBlock(Block{Piece: 1, Length: BlockSize}, buf))
	assert.Equal(t, sha1.Sum(buf), hs[0])
	_, err = s.BlockHashes(5)
	assert.ErrorIs(t, err, ErrBlock)
}
