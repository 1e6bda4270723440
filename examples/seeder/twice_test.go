package main

import (
	"context"
	"sync"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMakeSameItemAtOnce: the workers that make the torrents given (four
// at once) may make one item given twice at the same time; each must find
// the other's .torrent or write it, never fail on it ("file exists"), so
// that the item is seeded once (TestRunMany failed so in CI).
func TestMakeSameItemAtOnce(t *testing.T) {
	data := dataFile(t, t.TempDir(), 200_000)
	mk := &maker{pieceLength: 16 << 10, log: quiet()}
	const workers = 8
	var wg sync.WaitGroup
	made := make([]*made, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			made[i], errs[i] = mk.make(context.Background(), item{path: data})
		})
	}
	close(start)
	wg.Wait()
	written := 0
	for i := range workers {
		require.NoError(t, errs[i], "worker %d", i)
		if made[i].written {
			written++
		}
	}
	assert.Equal(t, 1, written, "the .torrent written once")
	mi, err := metainfo.LoadFromFile(data + ".torrent")
	require.NoError(t, err)
	for i := range workers {
		assert.Equal(t, mi.HashInfoBytes(), made[i].mi.HashInfoBytes(), "worker %d", i)
	}
}
