package paychan_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// TestRedeemer: on a schedule, a voucher worth the threshold is claimed
// (the channel stays open), one near expiry is closed; while the chain is
// down, attempts fail with ErrChainUnavailable and are retried, and
// nothing is lost: once it is back, everything is redeemed.
func TestRedeemer(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	st := w.payeeStoreDB
	payee, err := paychan.NewPayee(ctx, st, w.chain.As(w.payeeAddr), tiny(paychan.PayeeConfig{Self: w.payeeAddr, RedeemThreshold: btt.NewAmount(100), Now: w.chain.Now}))
	require.NoError(t, err)

	long, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(10_000), start.Add(48*time.Hour))
	require.NoError(t, err)
	short, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(10_000), start.Add(90*time.Minute))
	require.NoError(t, err)
	for _, c := range []paychan.Channel{long, short} {
		_, err = payee.Accept(ctx, c.ID)
		require.NoError(t, err)
	}
	pay := func(c paychan.Channel, piece int, amt uint64) {
		sv, err := w.payer.PayForPieces(c.ID, [20]byte{1}, []paychan.PiecePayment{{Piece: piece, Amount: btt.NewAmount(amt)}})
		require.NoError(t, err)
		_, err = payee.Receive(sv)
		require.NoError(t, err)
	}
	pay(long, 0, 500) // over the threshold: claimed, left open
	pay(short, 1, 40) // under it, but the channel ends within twice the margin: closed

	w.chain.SetUnavailable(true)
	var mu sync.Mutex
	var fails, oks int
	r := &paychan.Redeemer{Payee: payee, Interval: 10 * time.Millisecond, Report: func(id paychan.ChannelID, got btt.Amount, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			assert.ErrorIs(t, err, paychan.ErrChainUnavailable)
			fails++
		} else {
			oks++
		}
	}}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return fails >= 2 }, 5*time.Second, 5*time.Millisecond)
	w.chain.SetUnavailable(false)
	require.Eventually(t, func() bool {
		return w.chain.Balance(w.payeeAddr) == btt.NewAmount(540)
	}, 10*time.Second, 10*time.Millisecond, "both vouchers redeemed once the chain is back")
	cancel()
	assert.True(t, errors.Is(<-done, context.Canceled))

	l, err := w.chain.As(w.payeeAddr).Channel(ctx, long.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelOpen, l.State, "claimed, still open")
	s, err := w.chain.As(w.payeeAddr).Channel(ctx, short.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, s.State, "closed near expiry")
	// The payer: its long channel's deposit still locked, the short
	// one's rest refunded on close.
	assert.Equal(t, btt.NewAmount(1_000_000-10_000-40), w.chain.Balance(w.payerKey.Address()))

	// On shutdown, RedeemAll with close settles the long channel too,
	// though its voucher was claimed in full already: the payer gets
	// the rest of its deposit back now, not at expiry.
	got, err := payee.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.True(t, got.IsZero(), "nothing more to pay: %s", got)
	l, err = w.chain.As(w.payeeAddr).Channel(ctx, long.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, l.State)
	assert.Equal(t, btt.NewAmount(1_000_000-540), w.chain.Balance(w.payerKey.Address()))
	_, err = payee.RedeemAll(ctx, true)
	assert.NoError(t, err, "a second RedeemAll has nothing to do")

	chans, err := w.payer.Channels()
	require.NoError(t, err)
	assert.Len(t, chans, 2, "the payer lists its channels")
}

// TestPayerStartClose: a payer closes a channel early; the payee can still
// redeem in the challenge window; after it, the payer reclaims the rest.
func TestPayerStartClose(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, _ := w.paid(t, 1000, 3, 300)

	closing, err := w.payer.StartClose(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosing, closing.State)
	_, err = w.payer.Reclaim(ctx, ch.ID)
	assert.Error(t, err, "not before the challenge window ends")
	got, err := w.payee.Redeem(ctx, ch.ID, false)
	require.NoError(t, err, "the payee redeems inside the window")
	assert.Equal(t, btt.NewAmount(300), got)
	w.chain.Advance(2 * time.Hour)
	_, err = w.payer.Reclaim(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(1_000_000-300), w.chain.Balance(w.payerKey.Address()))
	recs, err := w.payer.Channels()
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, paychan.ChannelClosed, recs[0].Channel.State)
}

// TestRedeemAfterCrashBetweenClaimAndStore: the payee's claim was mined but
// it died before recording it. Claiming the same voucher again is refused
// on chain (not increasing); Redeem reads the channel, sees it paid, and
// records it — nothing is paid twice, nothing is left owed.
func TestRedeemAfterCrashBetweenClaimAndStore(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, sv := w.paid(t, 1000, 4, 250)
	// The claim lands on chain; the store never hears of it.
	_, err := w.chain.As(w.payeeAddr).Claim(ctx, sv)
	require.NoError(t, err)

	got, err := w.payee.Redeem(ctx, ch.ID, false)
	require.NoError(t, err)
	assert.True(t, got.IsZero(), "nothing more: it was claimed already")
	tot, err := w.payee.Totals()
	require.NoError(t, err)
	assert.True(t, tot.Redeemable.IsZero(), "recorded as redeemed: %+v", tot)
	assert.Equal(t, btt.NewAmount(250), w.chain.Balance(w.payeeAddr), "paid once")
}

// TestRedeemAfterCrashBetweenCloseAndStore: the payee's close was mined but
// it died before recording it; redeeming again (claim or close) finds the
// channel closed, reads it, sees its voucher paid, and records it.
func TestRedeemAfterCrashBetweenCloseAndStore(t *testing.T) {
	for _, close := range []bool{false, true} {
		ctx := context.Background()
		w := newWorld(t)
		ch, sv := w.paid(t, 1000, 5, 300)
		_, err := w.chain.As(w.payeeAddr).Close(ctx, sv) // mined; the store never hears of it
		require.NoError(t, err)

		got, err := w.payee.Redeem(ctx, ch.ID, close)
		require.NoError(t, err, "close %v", close)
		assert.True(t, got.IsZero())
		tot, err := w.payee.Totals()
		require.NoError(t, err)
		assert.True(t, tot.Redeemable.IsZero(), "recorded as redeemed: %+v", tot)
		due, err := w.payee.Due()
		require.NoError(t, err)
		assert.Empty(t, due, "nothing left for the redeemer")
		assert.Equal(t, btt.NewAmount(300), w.chain.Balance(w.payeeAddr), "paid once")
	}
}

// staleEscrow answers Channel with an old read, as a slow read started
// before a top-up would.
type staleEscrow struct {
	paychan.Escrow
	old paychan.Channel
}

func (s staleEscrow) Channel(context.Context, paychan.ChannelID) (paychan.Channel, error) {
	return s.old, nil
}

// TestAcceptNeverLowersTheDeposit: two reads of a channel finish out of
// order — the one started before a top-up last, here in a payee restarted
// on the store. The payee keeps the larger deposit, so vouchers above the
// old one are still accepted.
func TestAcceptNeverLowersTheDeposit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100), start.Add(48*time.Hour))
	require.NoError(t, err)
	_, err = w.payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	_, err = w.payer.TopUp(ctx, ch.ID, btt.NewAmount(900), start.Add(48*time.Hour))
	require.NoError(t, err)
	_, err = w.payee.Accept(ctx, ch.ID) // reads 1000
	require.NoError(t, err)
	sv, err := w.payer.PayForPieces(ch.ID, [20]byte{6}, []paychan.PiecePayment{{Piece: 1, Amount: btt.NewAmount(200)}})
	require.NoError(t, err)
	_, err = w.payee.Receive(sv) // stores the channel as read, with the voucher
	require.NoError(t, err)

	// A payee restarted on the store whose first read of the channel is
	// stale.
	stale, err := paychan.NewPayee(ctx, w.payeeStoreDB, staleEscrow{w.chain.As(w.payeeAddr), ch}, tiny(paychan.PayeeConfig{Self: w.payeeAddr, Now: func() time.Time { return w.clock }}))
	require.NoError(t, err)
	got, err := stale.Accept(ctx, ch.ID) // reads 100, late
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(1000), got.Deposit, "the larger deposit stands")
	sv, err = w.payer.PayForPieces(ch.ID, [20]byte{6}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(500)}})
	require.NoError(t, err)
	_, err = stale.Receive(sv)
	assert.NoError(t, err, "a voucher above the old deposit is accepted")
}

// paid opens a channel of deposit to the payee, has the payee accept it,
// and pays amount on it for piece 0 of torrent {tag}: the voucher is
// received and stored.
func (w *world) paid(t *testing.T, deposit uint64, tag byte, amount uint64) (paychan.Channel, paychan.SignedVoucher) {
	t.Helper()
	ctx := context.Background()
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(deposit), start.Add(48*time.Hour))
	require.NoError(t, err)
	_, err = w.payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	sv, err := w.payer.PayForPieces(ch.ID, [20]byte{tag}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(amount)}})
	require.NoError(t, err)
	_, err = w.payee.Receive(sv)
	require.NoError(t, err)
	return ch, sv
}
