package peer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scaleSpec writes a file of size random bytes in a directory of its own
// and returns the spec that seeds it (Verify).
func scaleSpec(tb testing.TB, size int) TorrentSpec {
	tb.Helper()
	return scaleSpecIn(tb, tb.TempDir(), "f", size)
}

// scaleSpecIn writes a file of size random bytes as dir/name and returns
// the spec that seeds it (Verify).
func scaleSpecIn(tb testing.TB, dir, name string, size int) TorrentSpec {
	tb.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	path := filepath.Join(dir, name)
	require.NoError(tb, os.WriteFile(path, data, 0o644))
	info := metainfo.Info{PieceLength: 16 << 10}
	require.NoError(tb, info.BuildFromFilePath(path))
	ib, err := bencode.Marshal(info)
	require.NoError(tb, err)
	return TorrentSpec{MetaInfo: &metainfo.MetaInfo{InfoBytes: ib}, Dir: dir, Verify: true}
}

// loopTimers returns how many ticks and periodic rechokes a torrent's
// loop has run, and whether either timer is armed.
func loopTimers(t *testing.T, tor *Torrent) (fires int, armed bool) {
	t.Helper()
	require.NoError(t, tor.do(context.Background(), func() {
		fires, armed = tor.timerFires, !tor.tickAt.IsZero() || !tor.rechokeAt.IsZero()
	}))
	return fires, armed
}

// TestIdleTorrentTimers: a seeding torrent with no peer arms no timer
// and runs no tick or rechoke over ten virtual minutes — a thousand of
// them cost no CPU — while a leecher ticks every second as ever, and a
// seeder that knows an unreachable peer ticks only for its retries (15 s
// after the first failure, 30 s after the second, … at most 90 s), not
// every second.
func TestIdleTorrentTimers(t *testing.T) {
	tests := []struct {
		name               string
		leech              bool
		deadPeer           bool
		minFires, maxFires int
	}{
		{name: "seeding, no peer", maxFires: 0},
		{name: "leeching, no peer", leech: true, minFires: 590, maxFires: 610},
		// Retries at about 15, 45, 90, 150, 225, 315, then every 90 s
		// (a tick each, and one a second while each dial is under way).
		{name: "seeding, an unreachable peer", deadPeer: true, minFires: 5, maxFires: 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := scaleSpec(t, 40<<10)
			synctest.Test(t, func(t *testing.T) {
				cfg := Config{NoListen: true, Dial: func(context.Context, netip.AddrPort) (net.Conn, error) {
					return nil, errors.New("unreachable")
				}}
				cl, err := NewClient(cfg)
				require.NoError(t, err)
				defer cl.Close()
				spec := spec
				if tc.leech {
					spec.Dir, spec.Verify = t.TempDir(), false
				}
				if tc.deadPeer {
					spec.Peers = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.9:6881")}
				}
				tor, err := cl.AddTorrent(context.Background(), spec)
				require.NoError(t, err)
				time.Sleep(10 * time.Minute)
				synctest.Wait()
				fires, armed := loopTimers(t, tor)
				t.Logf("%d ticks and rechokes in 10 minutes", fires)
				assert.GreaterOrEqual(t, fires, tc.minFires)
				assert.LessOrEqual(t, fires, tc.maxFires)
				if tc.maxFires == 0 {
					assert.False(t, armed, "a timer is armed")
				}
			})
		})
	}
}

// TestIdleTorrentCost: an idle seeding torrent costs at most
// maxIdleTorrentHeap of Go heap (it was 345 KiB) and idleTorrentGoroutines
// goroutines (its loop and its two disk workers), measured over 200
// torrents whose data, and so whose completion database, is in one
// directory.
func TestIdleTorrentCost(t *testing.T) {
	const (
		n                     = 200
		maxIdleTorrentHeap    = 24 << 10
		idleTorrentGoroutines = 1
	)
	dir := t.TempDir()
	specs := make([]TorrentSpec, n)
	for i := range specs {
		specs[i] = scaleSpecIn(t, dir, fmt.Sprintf("f%d", i), 20<<10)
	}
	cl, err := NewClient(Config{NoListen: true})
	require.NoError(t, err)
	defer cl.Close()
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC() // and what sync.Pools keep for one cycle
	runtime.ReadMemStats(&ms)
	heap0, g0 := ms.HeapAlloc, runtime.NumGoroutine()
	tors := make([]*Torrent, n)
	for i, spec := range specs {
		tors[i], err = cl.AddTorrent(context.Background(), spec)
		require.NoError(t, err)
	}
	for _, tor := range tors {
		<-tor.Done()
		loopTimers(t, tor) // its loop has started
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	perTorrent := (int64(ms.HeapAlloc) - int64(heap0)) / n
	goroutines := float64(runtime.NumGoroutine()-g0) / n
	t.Logf("per idle torrent: %d bytes of heap, %.2f goroutines", perTorrent, goroutines)
	assert.LessOrEqual(t, perTorrent, int64(maxIdleTorrentHeap))
	assert.LessOrEqual(t, goroutines, float64(idleTorrentGoroutines)+0.05)
}

// TestTorrentsShareCompletionDir: torrents whose data is in one directory
// share its completion database (before, the second waited a second for
// bbolt's lock on the file and failed); it stays open while any of them
// is, and what each recorded outlives them.
func TestTorrentsShareCompletionDir(t *testing.T) {
	dir := t.TempDir()
	specs := make([]TorrentSpec, 3)
	for i := range specs {
		specs[i] = scaleSpecIn(t, dir, fmt.Sprintf("f%d", i), 20<<10+i)
	}
	cl, err := NewClient(Config{NoListen: true})
	require.NoError(t, err)
	defer cl.Close()
	tors := make([]*Torrent, len(specs))
	for i, spec := range specs {
		start := time.Now()
		tors[i], err = cl.AddTorrent(context.Background(), spec)
		require.NoError(t, err)
		assert.Less(t, time.Since(start), 500*time.Millisecond, "waited for a lock")
		<-tors[i].Done()
	}
	require.NoError(t, tors[0].Close())
	// The others' database is still open; the first's record is kept:
	// added again without Verify, it is complete at once.
	again := specs[0]
	again.Verify = false
	tor, err := cl.AddTorrent(context.Background(), again)
	require.NoError(t, err)
	select {
	case <-tor.Done():
	default:
		t.Fatal("the completion recorded before was lost")
	}
}
