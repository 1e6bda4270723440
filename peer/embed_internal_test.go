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
