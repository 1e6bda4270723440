package speed_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
)

// TestCorruptPieceNotPaid: a paid seeder serves a corrupt piece. The
// leecher's hash check fails, the seeder is banned (it alone sent the
// piece), and it is never paid for that piece — only for the pieces that
// verified; the download completes from an honest seeder.
func TestCorruptPieceNotPaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newMarket(t)
		price := btt.NewAmount(5)
		const size, pieceLen, bad = 2 << 20, 64 << 10, 9
		cheat := m.seller(price, size, sellerOpts{})
		honestDir := t.TempDir()
		orig, err := os.ReadFile(filepath.Join(cheat.dir, "data.bin"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(honestDir, "data.bin"), orig, 0o644))
		// Verified, then corrupted on disk: the cheat serves bad bytes for
		// piece bad as if they were good.
		f, err := os.OpenFile(filepath.Join(cheat.dir, "data.bin"), os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteAt(make([]byte, 1000), bad*pieceLen+100)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		l := m.buyer(cheat, 2, btt.BTT(1), price, btt.BTT(1), nil)
		tor, buyer, payer, mi := l.tor, l.buyer, l.payer, cheat.mi

		// Sooner or later the leecher gets the bad piece; the cheat, proven to
		// have sent it, is banned.
		require.Eventually(t, func() bool {
			ps, err := tor.Peers(ctx)
			st, err2 := tor.Stats(ctx)
			return err == nil && err2 == nil && st.Downloaded > 0 && len(ps) == 0
		}, 30*time.Second, 20*time.Millisecond, "the cheat is dropped")
		st, err := tor.Stats(ctx)
		require.NoError(t, err)
		require.False(t, st.Complete)

		// An honest (legacy) seeder supplies the piece; the download
		// completes, byte-identical. It is at another address: a peer banned
		// for bad data is banned by its IP.
		honest, err := peer.NewClient(m.cfg(peer.Config{ListenAddr: "127.0.0.2:0"}))
		require.NoError(t, err)
		defer honest.Close()
		_, err = honest.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: honestDir, Verify: true})
		require.NoError(t, err)
		tor.AddPeers(honest.Addr())
		waitDone(t, tor, 30*time.Second)
		assert.Equal(t, cheat.sum, fileSum(t, filepath.Join(l.dir, "data.bin")))
		// Settled: payments for pieces verified before the ban may have been
		// waiting for the channel.
		var last btt.Amount
		stable := 0
		require.Eventually(t, func() bool {
			if sp := buyer.Spent(); sp != last {
				last, stable = sp, 0
				return false
			}
			stable++
			return stable >= 5
		}, 10*time.Second, 50*time.Millisecond)
		paid, err := payer.PaidPieces(mi.HashInfoBytes())
		require.NoError(t, err)
		assert.NotContains(t, paid, bad, "the corrupt piece is never paid for")
		assert.LessOrEqual(t, len(paid), st.PiecesDone, "only pieces verified from the cheat, before its ban")
		for _, id := range paid {
			assert.Equal(t, paid[firstKey(paid)], id, "one channel: the cheat's")
		}
		want, err := price.MulUint64(uint64(len(paid)) * pieceLen)
		require.NoError(t, err)
		assert.Equal(t, want, buyer.Spent(), "price × the bytes of verified pieces, no more")
	})
}

func firstKey(m map[int]paychan.ChannelID) int {
	for k := range m {
		return k
	}
	return -1
}
