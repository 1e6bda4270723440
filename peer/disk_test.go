package peer

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/piece"
)

// TestDiskHashesOnTheWay: a piece written in order is verified from the
// sum of its writes, with no read back; one written out of order, in part
// twice, or past the bound of pieces hashed at once is read back. Every
// verdict is right either way, bad data included.
func TestDiskHashesOnTheWay(t *testing.T) {
	const pieceLen = 4 * piece.BlockSize
	src := t.TempDir()
	data := make([]byte, 3*pieceLen+piece.BlockSize+7) // a short last piece
	_, err := rand.Read(data)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(src, "data.bin"), data, 0o644))
	info := &metainfo.Info{PieceLength: pieceLen}
	require.NoError(t, info.BuildFromFilePath(filepath.Join(src, "data.bin")))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	ih := metainfo.HashBytes(ib)
	layout := piece.LayoutOf(info)

	// block returns block j of piece i, corrupted if bad.
	block := func(i, j int, bad bool) diskJob {
		b := layout.Block(i, j)
		off := int64(i)*pieceLen + int64(b.Begin)
		d := append([]byte(nil), data[off:off+int64(b.Length)]...)
		if bad {
			d[0] ^= 1
		}
		return diskJob{block: b, data: d}
	}
	inOrder := func(i int) []diskJob {
		var js []diskJob
		for j := range layout.NumBlocks(i) {
			js = append(js, block(i, j, false))
		}
		return js
	}
	for _, tc := range []struct {
		name     string
		piece    int
		jobs     []diskJob
		ok       bool
		readBack int64
	}{
		{"in order", 0, inOrder(0), true, 0},
		{"the short last piece in order", 3, inOrder(3), true, 0},
		{"in order, bad data", 1, append(inOrder(1)[:3], block(1, 3, true)), false, 0},
		{"out of order", 1, []diskJob{block(1, 1, false), block(1, 0, false), block(1, 3, false), block(1, 2, false)}, true, 1},
		{"from the middle", 2, []diskJob{block(2, 2, false), block(2, 3, false), block(2, 0, false), block(2, 1, false)}, true, 1},
		{"a block written again", 2, append(inOrder(2), block(2, 1, false)), true, 1},
		{"a block written again, bad the second time", 2, append(inOrder(2), block(2, 1, true)), false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := piece.OpenStorage(piece.StorageConfig{Dir: t.TempDir(), Info: info, InfoHash: ih})
			require.NoError(t, err)
			defer st.Close()
			var wg sync.WaitGroup
			results := make(chan diskJob, 1)
			q := newDiskQueue(1, st, func(j diskJob, err error) {
				assert.NoError(t, err) // not require: off the test's goroutine
				results <- j
			}, func() {}, &wg)
			defer wg.Wait()
			defer q.close()
			for _, j := range tc.jobs {
				q.push(j)
			}
			q.push(diskJob{verify: true, block: piece.Block{Piece: tc.piece}})
			got := <-results
			assert.Equal(t, tc.piece, got.block.Piece)
			assert.Equal(t, tc.ok, got.ok, "verdict")
			assert.Equal(t, tc.readBack, q.readBack.Load(), "pieces read back")
		})
	}
}

// TestDiskHashingBounded: past maxHashing pieces begun and not finished,
// a worker hashes no more on the way; the ones begun later are read back.
func TestDiskHashingBounded(t *testing.T) {
	w := &diskWorker{q: &diskQueue{}, hashing: make(map[int]*pieceHash)}
	blk := [][]byte{make([]byte, piece.BlockSize)}
	l := piece.Layout{PieceLength: 4 * piece.BlockSize, Length: (maxHashing + 10) * 4 * piece.BlockSize}
	for i := range maxHashing + 10 {
		w.hashRun(l, i, 0, blk)
	}
	assert.Len(t, w.hashing, maxHashing)
	w.hashRun(l, 0, 2*piece.BlockSize, blk) // a gap
	require.Contains(t, w.hashing, 0)
	assert.Nil(t, w.hashing[0].h, "a gap ends the hash")
}
