package peer_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// TestEvents: a subscriber sees the seeder connect, the metadata arrive,
// every piece verify, the torrent complete and the seeder go, in that
// order.
func TestEvents(t *testing.T) {
	f := newFixture(t, 300<<10, 32<<10)
	seeder := newClient(t, nil)
	seed(t, seeder, f)
	leecher := newClient(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := leecher.Subscribe(ctx)
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&x.pe=%s", f.mi.HashInfoBytes().HexString(), seeder.Addr())
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{Magnet: magnet, Dir: t.TempDir()})
	require.NoError(t, err)
	ih := tor.InfoHash()
	var got []string
	pieces := map[int]bool{}
	for ev := range events {
		switch e := ev.(type) {
		case peer.MetadataReceived:
			assert.Equal(t, ih, e.InfoHash)
			got = append(got, "metadata")
		case peer.PieceVerified:
			assert.False(t, pieces[e.Piece], "piece %d twice", e.Piece)
			pieces[e.Piece] = true
		case peer.WantedComplete:
			got = append(got, "wanted")
		case peer.PeerConnected:
			if len(got) == 0 || got[len(got)-1] != "peer" {
				got = append(got, "peer")
			}
		case peer.TorrentComplete:
			got = append(got, "complete")
			assert.Len(t, pieces, 10)
		case peer.PeerDropped:
			got = append(got, "dropped") // both seeds now: the connection closes
			cancel()
		case peer.Missed:
			t.Fatalf("missed %d events", e.N)
		}
	}
	assert.Equal(t, []string{"peer", "metadata", "wanted", "complete", "dropped"}, got)
}

// TestSlowSubscriber: a subscriber that reads nothing while a torrent of
// more pieces than the buffer downloads does not stall the transfer, and
// then gets the buffered events and a Missed saying how many it lost.
func TestSlowSubscriber(t *testing.T) {
	const pieces = peer.SubscribeBuffer + 300
	f := newFixture(t, pieces*16<<10, 16<<10)
	seeder := newClient(t, nil)
	seed(t, seeder, f)
	leecher := newClient(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := leecher.Subscribe(ctx)
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir(), Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	waitDone(t, tor, 60*time.Second)
	verified, missed := 0, 0
	for missed == 0 {
		select {
		case ev := <-events:
			switch e := ev.(type) {
			case peer.PieceVerified:
				verified++
			case peer.Missed:
				missed = e.N
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no Missed event")
		}
	}
	assert.Positive(t, verified)
	// Every piece is a PieceVerified, delivered or counted missed; the
	// other events (peer connected, complete) are among either.
	assert.GreaterOrEqual(t, verified+missed, pieces)
}
