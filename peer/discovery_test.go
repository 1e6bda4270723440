package peer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery"
	"github.com/bttspeed/bttspeed/peer/discovery/discoverytest"
)

// TestDiscoveryByTrackerAlone: seeder and leecher know nothing of each
// other but a loopback tracker's URL.
func TestDiscoveryByTrackerAlone(t *testing.T) {
	for _, proto := range []string{"http", "udp"} {
		t.Run(proto, func(t *testing.T) {
			tr := discoverytest.StartTracker(t, time.Second)
			url := tr.HTTPURL
			if proto == "udp" {
				url = tr.UDPURL
			}
			f := newFixture(t, 1<<20, 64<<10)
			fast := func(c *peer.Config) { c.Tracker = discovery.TrackerConfig{MinInterval: time.Second} }
			seeder := newClient(t, fast)
			_, err := seeder.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true, Trackers: []string{url}})
			require.NoError(t, err)
			leecher := newClient(t, fast)
			dir := t.TempDir()
			tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Trackers: []string{url}})
			require.NoError(t, err)
			waitDone(t, tor, 60*time.Second)
			requireSameFile(t, f, dir)
		})
	}
}

// TestDiscoveryByDHTAlone: seeder and leecher find each other through a
// loopback DHT swarm only.
func TestDiscoveryByDHTAlone(t *testing.T) {
	nodes := discoverytest.StartDHT(t, 3, 2*time.Second)
	f := newFixture(t, 1<<20, 64<<10)
	seeder := newClient(t, func(c *peer.Config) { c.DHT = nodes[0] })
	_, err := seeder.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	leecher := newClient(t, func(c *peer.Config) { c.DHT = nodes[2] })
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir})
	require.NoError(t, err)
	waitDone(t, tor, 60*time.Second)
	requireSameFile(t, f, dir)
}

func TestBadTrackerURLRefused(t *testing.T) {
	f := newFixture(t, 64<<10, 64<<10)
	cl := newClient(t, nil)
	_, err := cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir(), Trackers: []string{"gopher://x"}})
	require.ErrorIs(t, err, discovery.ErrBadURL)
}
