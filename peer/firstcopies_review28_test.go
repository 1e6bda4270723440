package peer_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer"
)

// TestCappedSeederServesAPartialLeecher_review28: a capped seeder that
// sends first copies never declines a leecher a piece for ever. Peer x is
// sent piece 0 of a two-file torrent and announces it; then either leaves,
// or stays and serves nobody. A leecher of ours that wants only the first
// file (which holds piece 0) comes next. The second file's pieces have
// gone to nobody, and as long as they had, every request for piece 0 was
// declined (DeclineDuplicate's "some piece has no copy" rule had no
// window, and the ledger kept a departed peer's copy): the leecher, which
// wants none of those pieces and cannot ask for them instead, never
// completed (48 of 64 KiB in 15 s; fixed by 854f1b9 and 2fb3f68).
func TestCappedSeederServesAPartialLeecher_review28(t *testing.T) {
	for _, tc := range []struct {
		name    string
		xLeaves bool
	}{
		{"x leaves", true},
		{"x stays, serving nobody", false},
	} {
		t.Run(tc.name, func(t *testing.T) { partialLeecher(t, tc.xLeaves) })
	}
}

func partialLeecher(t *testing.T, xLeaves bool) {
	const pl = 16 << 10
	f := newMultiFixture(t, pl, 4*pl, 4*pl)
	seeder := f.seed(t, func(c *peer.Config) {
		c.Policy = func() (choker.Policy, error) { return fixedPolicy{unchoke: true}, nil }
		c.RechokeInterval = 100 * time.Millisecond
		c.UploadRate = 4 << 20
	})
	ih := f.mi.HashInfoBytes()

	x := dialRawFrom(t, netip.MustParseAddr("127.0.0.41"), seeder.Addr().String(), ih, true, false, "-BS0100-x-"+randomSuffix())
	x.send(pp.HaveNone)
	x.send(pp.Interested)
	_, ok := x.recv(5*time.Second, pp.Unchoke)
	require.True(t, ok, "x unchoked")
	x.send(pp.Request, 0, 0, pl)
	m, ok := x.recv(5*time.Second, pp.Piece, pp.Reject)
	require.True(t, ok)
	require.Equal(t, pp.Piece, m.Type, "x is sent the first copy of piece 0")
	x.send(pp.Have, 0)
	time.Sleep(200 * time.Millisecond) // the seeder reads the have
	if xLeaves {
		require.NoError(t, x.c.Close())
		time.Sleep(200 * time.Millisecond) // and the close
	}

	leecher := newClient(t, nil)
	dir := t.TempDir()
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{
		MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{seeder.Addr()},
		FilePriority: func(_ int, path string) peer.PiecePriority {
			if path == "album/a.bin" {
				return peer.PiecePriorityNormal
			}
			return peer.PiecePriorityNone
		},
	})
	require.NoError(t, err)
	a := tor.Files()[0]
	// The windows (at most 5 s) and the time to ask again.
	ok = assert.Eventually(t, func() bool { return a.BytesCompleted() == a.Length() }, 15*time.Second, 20*time.Millisecond,
		"the wanted file completes")
	if !ok {
		t.Logf("%d of %d bytes", a.BytesCompleted(), a.Length())
		return
	}
	got, err := os.ReadFile(filepath.Join(dir, "album", "a.bin"))
	require.NoError(t, err)
	assert.Equal(t, f.data[0], got)
}
