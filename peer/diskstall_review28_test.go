package peer

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// review28Log records the engine's log lines.
type review28Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *review28Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *review28Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestDiskStallKeepsPeers_review28: while our disk is behind, a
// connection's reader reads no block (diskQueue.waitRoom, 7aa1c21), so the
// blocks a peer sent on time wait in the socket; our disk being slow is no
// fault of the peer's. A stall longer than RequestTimeout (30 s by
// default; 300 ms here) expired the requests those blocks answer: they
// came in as unrequested once the disk caught up (wasted, and asked for
// again), and after a few such stalls the honest seeder was dropped
// ("unrequested blocks", past maxUnwanted) and not dialed again for 30 s.
func TestDiskStallKeepsPeers_review28(t *testing.T) {
	const size = 64 << 20
	spec := scaleSpec(t, size)
	seeder, err := NewClient(Config{ListenAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	defer seeder.Close()
	_, err = seeder.AddTorrent(context.Background(), spec)
	require.NoError(t, err)

	var log review28Log
	leecher, err := NewClient(Config{ListenAddr: "127.0.0.1:0", RequestTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	defer leecher.Close()
	tor, err := leecher.AddTorrent(context.Background(), TorrentSpec{MetaInfo: spec.MetaInfo, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return tor.downloaded.Load() > 0 }, 10*time.Second, time.Millisecond)

	// The disk stalls six times for five request timeouts each: the
	// queue looks full, and the readers wait.
	var q *diskQueue
	require.NoError(t, tor.do(context.Background(), func() { q = tor.disk }))
	const stall = diskReaderHigh + 2<<20
	for range 6 {
		q.pending.Add(stall)
		time.Sleep(1500 * time.Millisecond)
		q.pending.Add(-stall)
		q.drained()
		if q.stalled.CompareAndSwap(true, false) {
			q.resume()
		}
		time.Sleep(50 * time.Millisecond)
	}

	select {
	case <-tor.Done():
	case <-time.After(20 * time.Second):
		st, _ := tor.Stats(context.Background())
		l := log.String()
		t.Fatalf("not complete: %+v\n%s", st, l[max(0, len(l)-3000):])
	}
	st, err := tor.Stats(context.Background())
	require.NoError(t, err)
	t.Logf("%+v", st)
	assert.NotContains(t, log.String(), "unrequested blocks", "the seeder was dropped for our disk")
	assert.Less(t, st.Wasted, int64(1<<20), "blocks that came after their requests expired")
}
