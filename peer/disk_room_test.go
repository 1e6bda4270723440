package peer

import (
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/piece"
)

// TestDiskWaitRoom: a reader waits while the queue is above
// diskReaderHigh, until a worker takes it below diskLow, or its
// connection or torrent ends.
func TestDiskWaitRoom(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pending int64
		end     string // what ends the wait: drain, closed, done ("": none needed)
		want    bool
	}{
		{"below the mark: no wait", diskReaderHigh, "", true},
		{"above: until drained", diskReaderHigh + 1, "drain", true},
		{"above: the connection closes", diskReaderHigh + 1, "closed", false},
		{"above: the torrent stops", diskReaderHigh + 1, "done", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &diskQueue{}
			q.pending.Store(tc.pending)
			closed, done := make(chan struct{}), make(chan struct{})
			got := make(chan bool, 1)
			go func() { got <- q.waitRoom(closed, done) }()
			if tc.end != "" {
				select {
				case <-got:
					t.Fatal("did not wait")
				case <-time.After(50 * time.Millisecond):
				}
				switch tc.end {
				case "drain":
					q.pending.Store(diskLow - 1)
					q.drained()
				case "closed":
					close(closed)
				case "done":
					close(done)
				}
			}
			select {
			case ok := <-got:
				assert.Equal(t, tc.want, ok)
			case <-time.After(10 * time.Second):
				t.Fatal("still waiting")
			}
		})
	}
}

// TestDiskWaitRoomWorkers: readers waiting on a queue that real workers
// drain are all let go (no wake-up is lost between a reader's look at
// the queue and a worker's drain).
func TestDiskWaitRoomWorkers(t *testing.T) {
	const pieceLen = 64 * piece.BlockSize
	const pieces = 2 * (diskReaderHigh/pieceLen + 1)
	info := &metainfo.Info{Name: "data.bin", PieceLength: pieceLen, Length: pieces * pieceLen, Pieces: make([]byte, 20*pieces)}
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	st, err := piece.OpenStorage(piece.StorageConfig{Dir: t.TempDir(), Info: info, InfoHash: metainfo.HashBytes(ib)})
	require.NoError(t, err)
	defer st.Close()
	var wg sync.WaitGroup
	q := newDiskQueue(2, st, func(j diskJob, err error) { assert.NoError(t, err) }, func() {}, &wg)
	defer wg.Wait()
	defer q.close()
	layout := st.Layout()
	for round := range 20 {
		for i := range pieces {
			for j := range layout.NumBlocks(i) {
				q.push(diskJob{block: layout.Block(i, j), data: make([]byte, piece.BlockSize)})
			}
		}
		var readers sync.WaitGroup
		never := make(chan struct{})
		for range 4 {
			readers.Go(func() { assert.True(t, q.waitRoom(never, never)) })
		}
		waited := make(chan struct{})
		go func() { readers.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: readers still waiting with %d bytes queued", round, q.pending.Load())
		}
		assert.LessOrEqual(t, q.pending.Load(), int64(diskReaderHigh))
	}
}
