package peer_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

func TestOursToOurs(t *testing.T) {
	f := newFixture(t, 3<<20+12345, 256<<10)
	seeder := newClient(t, nil)
	seed(t, seeder, f)

	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()}})
	require.NoError(t, err)
	waitDone(t, tor, 30*time.Second)
	requireSameFile(t, f, dir)
	st, err := tor.Stats(context.Background())
	require.NoError(t, err)
	assert.True(t, st.Complete)
	assert.Equal(t, int64(0), st.Left)
	assert.GreaterOrEqual(t, st.Downloaded, f.info.TotalLength())
}
