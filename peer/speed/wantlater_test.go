package speed_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer"
)

// TestBidWhenWantedLater: a buyer whose download wants nothing at first
// (its file at PiecePriorityNone) bids nothing then; when the file comes
// to be wanted, it bids at once, not at its next rechoke — a minute here —
// and the download completes. Before peer.InterestObserver it bid only on
// attaching and on its own rechoke.
func TestBidWhenWantedLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMarket(t)
		price := btt.NewAmount(3)
		const size = 4 << 20
		// Capped, so that the download outlasts the checks below (the
		// free slot serves the lone buyer, bid or not).
		s := m.seller(price, size, sellerOpts{client: func(c *peer.Config) { c.UploadRate = 256 << 10 }})
		onNet := m.client
		m.client = func(c *peer.Config) {
			onNet(c)
			c.RechokeInterval = time.Minute // the buyer's: its periodic bidding round
		}
		m.spec = func(spec *peer.TorrentSpec) {
			spec.FilePriority = func(int, string) peer.PiecePriority { return peer.PiecePriorityNone }
		}
		l := m.buyer(s, 2, btt.NewAmount(10*size*3), price, btt.NewAmount(10*size*3), nil)

		bid := func() btt.Amount {
			figs, err := s.ext.Peers(context.Background())
			require.NoError(t, err)
			for _, f := range figs {
				if f.Sell != nil {
					return f.Sell.Bid
				}
			}
			return btt.Zero
		}
		require.Eventually(t, func() bool {
			figs, err := s.ext.Peers(context.Background())
			return err == nil && len(figs) == 1 && figs[0].Sell != nil
		}, 10*time.Second, 10*time.Millisecond, "the buyer's btt_speed connection")
		time.Sleep(2 * time.Second)
		assert.True(t, bid().IsZero(), "a buyer that wants nothing bids nothing")

		files := l.tor.Files()
		require.Len(t, files, 1)
		files[0].SetPriority(peer.PiecePriorityNormal)
		start := time.Now()
		require.Eventually(t, func() bool { return !bid().IsZero() }, 30*time.Second, 10*time.Millisecond, "a bid")
		assert.Less(t, time.Since(start), 2*time.Second, "the bid came at once, not at the buyer's rechoke")
		assert.Equal(t, price, bid())
		waitDone(t, l.tor, time.Minute)
	})
}
