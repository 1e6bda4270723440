package peer

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/tracker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer/discovery"
	"github.com/bttspeed/bttspeed/peer/discovery/discoverytest"
)

// TestPausableSource: a tracker source wrapped by pausable announces
// "stopped" when the torrent pauses, nothing while it is paused, and
// "started" again on Resume. Against a loopback tracker.
func TestPausableSource(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x"), make([]byte, 40<<10), 0o644))
	info := metainfo.Info{PieceLength: 16 << 10}
	require.NoError(t, info.BuildFromFilePath(filepath.Join(dir, "x")))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	cl, err := NewClient(Config{ListenAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	defer cl.Close()
	tor, err := cl.AddTorrent(context.Background(), TorrentSpec{MetaInfo: &metainfo.MetaInfo{InfoBytes: ib}, Dir: t.TempDir()})
	require.NoError(t, err)

	tr := discoverytest.StartTracker(t, time.Second)
	src, err := discovery.NewTracker(tr.HTTPURL, discovery.TrackerConfig{MinInterval: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	a := discovery.Announce{InfoHash: tor.ih, PeerID: cl.peerID, Port: 6881,
		Stats: func() discovery.Stats { return discovery.Stats{Left: 1} }, Found: func([]netip.AddrPort) {}}
	wg.Go(func() { _ = tor.pausable(src).Run(ctx, a) })

	events := func() []tracker.AnnounceEvent {
		var out []tracker.AnnounceEvent
		for _, r := range tr.Announces() {
			out = append(out, r.Event)
		}
		return out
	}
	require.Eventually(t, func() bool { return len(events()) >= 2 }, 10*time.Second, 10*time.Millisecond, "started, then a re-announce")
	tor.Pause()
	require.Eventually(t, func() bool { e := events(); return e[len(e)-1] == tracker.Stopped }, 10*time.Second, 10*time.Millisecond)
	n := len(events())
	time.Sleep(2500 * time.Millisecond) // past two re-announce intervals
	assert.Len(t, events(), n, "no announce while paused")
	tor.Resume()
	require.Eventually(t, func() bool { return len(events()) > n }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, tracker.Started, events()[n])
}

// TestReaderMeasuredRate: without SetPlaybackRate a reader's rate is
// measured over windows of at least rateWindow, smoothed across windows.
func TestReaderMeasuredRate(t *testing.T) {
	r := &Reader{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for k := 0; k <= 5; k++ {
		r.consumed(1000, now.Add(time.Duration(k)*time.Second))
	}
	assert.Equal(t, int64(1200), r.rate(), "6000 bytes over the first 5 s")
	for k := 6; k <= 10; k++ {
		r.consumed(3000, now.Add(time.Duration(k)*time.Second))
	}
	assert.Equal(t, int64(2100), r.rate(), "(1200 + 3000) / 2")
	r.playback = 500
	assert.Equal(t, int64(500), r.rate(), "a set rate wins")
}
