package speed_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// TestListedPiecesOnlyIfSoldWhole: the pieces a voucher lists are the
// payer's word. The seller records as paid for — to serve them again free
// — only those that this connection sold whole: a payer that pays for the
// whole torrent and lists every piece, having got only its first window,
// has only that window's pieces recorded, and so cannot have the rest
// served free on its next connection.
func TestListedPiecesOnlyIfSoldWhole(t *testing.T) {
	ctx := context.Background()
	m, s, k, ch, p := stopPayWinner(t) // a 256 KiB first window; 16 MiB of 64 KiB pieces, at 1 a byte
	price := btt.NewAmount(1)
	const pieces = 16 << 20 / (64 << 10)

	// It takes its first window and is held there, paying nothing.
	require.Eventually(t, func() bool {
		figs, err := s.ext.Peers(ctx)
		return err == nil && len(figs) == 1 && figs[0].Sell != nil && figs[0].Sell.Held && figs[0].Sell.Sold > 0
	}, 10*time.Second, 10*time.Millisecond, "the payer held at its first window")

	// Then it pays for the whole torrent and lists every piece.
	all, err := price.MulUint64(16 << 20)
	require.NoError(t, err)
	sv, err := paychan.Sign(k, paychan.Voucher{ChainID: m.dom.ChainID, Escrow: m.dom.Escrow, Channel: ch.ID, Amount: all})
	require.NoError(t, err)
	sendMsg(t, p, speedwire.Voucher{Signed: sv, Pieces: []speedwire.Run{{Start: 0, Count: pieces}}})
	require.Eventually(t, func() bool {
		figs, err := s.ext.Peers(ctx)
		return err == nil && len(figs) == 1 && figs[0].Sell != nil && figs[0].Sell.Paid == all
	}, 10*time.Second, 10*time.Millisecond, "the voucher credited")

	sold, err := s.payee.SoldPieces(ch.ID, s.mi.HashInfoBytes())
	require.NoError(t, err)
	t.Logf("listed %d pieces; recorded %v", pieces, sold)
	assert.NotEmpty(t, sold, "the pieces it did get whole are recorded")
	// The first window is 256 KiB: four 64 KiB pieces, and the gate
	// finishes a piece begun, so at most one more.
	assert.LessOrEqual(t, len(sold), 5, "only the pieces this connection sold whole, not all %d listed", pieces)
}
