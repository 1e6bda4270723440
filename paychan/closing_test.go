package paychan_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// heldEscrow holds each Close until the test releases it, and tells the
// test which voucher it was given: a close in flight, for as long as the
// test wants.
type heldEscrow struct {
	paychan.Escrow
	closing chan paychan.SignedVoucher
	release chan struct{}
}

func (h *heldEscrow) Close(ctx context.Context, sv paychan.SignedVoucher) (paychan.Channel, error) {
	h.closing <- sv
	select {
	case <-h.release:
	case <-ctx.Done():
		return paychan.Channel{}, ctx.Err()
	}
	return h.Escrow.Close(ctx, sv)
}

// TestVoucherRacingClose: a voucher that arrives while the payee's close
// of its channel is in flight is refused, never credited and lost; one
// stored before the close began is what the close redeems.
func TestVoucherRacingClose(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	esc := &heldEscrow{Escrow: w.chain.As(w.payeeAddr), closing: make(chan paychan.SignedVoucher), release: make(chan struct{})}
	payee, err := paychan.NewPayee(ctx, w.payeeStoreDB, esc, tiny(paychan.PayeeConfig{Self: w.payeeAddr, Now: w.chain.Now}))
	require.NoError(t, err)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100_000), start.Add(48*time.Hour))
	require.NoError(t, err)
	_, err = payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	var credited btt.Amount
	pay := func(piece int) error {
		sv, err := w.payer.PayForPieces(ch.ID, [20]byte{8}, []paychan.PiecePayment{{Piece: piece, Amount: btt.NewAmount(1000)}})
		require.NoError(t, err)
		d, err := payee.Receive(sv)
		credited, _ = credited.Add(d)
		return err
	}
	require.NoError(t, pay(0))

	type result struct {
		got btt.Amount
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := payee.Redeem(ctx, ch.ID, true)
		done <- result{got, err}
	}()
	sent := <-esc.closing // the close is in flight, with the best voucher then
	assert.Equal(t, btt.NewAmount(1000), sent.Amount)
	racing := pay(1)
	close(esc.release)
	res := <-done
	require.NoError(t, res.err)

	paid := w.chain.Balance(w.payeeAddr)
	assert.Equal(t, credited, paid, "whatever was credited is what the close redeemed (credited %s, paid %s)", credited, paid)
	tot, err := payee.Totals()
	require.NoError(t, err)
	assert.True(t, tot.Redeemable.IsZero(), "nothing left owed on a closed channel: %+v", tot)
	assert.ErrorIs(t, racing, paychan.ErrChannelClosing, "the voucher racing the close is refused")
}

// TestVouchersRaceCloses runs vouchers against closes on many channels at
// once: on each, what the payee credited is exactly what the chain paid
// it.
func TestVouchersRaceCloses(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	payee, err := paychan.NewPayee(ctx, w.payeeStoreDB, w.chain.As(w.payeeAddr), tiny(paychan.PayeeConfig{Self: w.payeeAddr, Now: w.chain.Now}))
	require.NoError(t, err)
	for n := range 20 {
		ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(10_000), start.Add(48*time.Hour))
		require.NoError(t, err)
		_, err = payee.Accept(ctx, ch.ID)
		require.NoError(t, err)
		var vouchers []paychan.SignedVoucher
		for i := range 8 {
			sv, err := w.payer.PayForPieces(ch.ID, [20]byte{9, byte(n)}, []paychan.PiecePayment{{Piece: i, Amount: btt.NewAmount(100)}})
			require.NoError(t, err)
			vouchers = append(vouchers, sv)
		}
		before := w.chain.Balance(w.payeeAddr)
		credited, err := payee.Receive(vouchers[0]) // something to close with
		require.NoError(t, err)
		var wg sync.WaitGroup
		wg.Go(func() {
			for _, sv := range vouchers[1:] {
				if d, err := payee.Receive(sv); err == nil {
					credited, _ = credited.Add(d)
				}
			}
		})
		wg.Go(func() {
			_, err := payee.Redeem(ctx, ch.ID, true)
			assert.NoError(t, err)
		})
		wg.Wait()
		_, err = payee.RedeemAll(ctx, true)
		require.NoError(t, err)
		paid, err := w.chain.Balance(w.payeeAddr).Sub(before)
		require.NoError(t, err)
		assert.Equal(t, credited, paid, "channel %x: credited %s, paid %s", ch.ID[:4], credited, paid)
	}
}

// TestFailedCloseKeepsChannelClosing: a close that failed (the node down)
// leaves the channel marked closing — no vouchers, no new announcement,
// not creditable — and due to be closed at the next round; a claim marks
// nothing.
func TestFailedCloseKeepsChannelClosing(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	payee, err := paychan.NewPayee(ctx, w.payeeStoreDB, w.chain.As(w.payeeAddr), tiny(paychan.PayeeConfig{Self: w.payeeAddr, Now: w.chain.Now}))
	require.NoError(t, err)
	open := func() paychan.Channel {
		ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100_000), start.Add(48*time.Hour))
		require.NoError(t, err)
		_, err = payee.Accept(ctx, ch.ID)
		require.NoError(t, err)
		return ch
	}
	pay := func(ch paychan.Channel, piece int) error {
		sv, err := w.payer.PayForPieces(ch.ID, [20]byte{10, ch.ID[0]}, []paychan.PiecePayment{{Piece: piece, Amount: btt.NewAmount(1000)}})
		require.NoError(t, err)
		_, err = payee.Receive(sv)
		return err
	}
	ch := open()
	require.NoError(t, pay(ch, 0))

	w.chain.SetUnavailable(true)
	_, err = payee.Redeem(ctx, ch.ID, true)
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	w.chain.SetUnavailable(false)
	assert.ErrorIs(t, pay(ch, 1), paychan.ErrChannelClosing)
	_, err = payee.Accept(ctx, ch.ID)
	assert.ErrorIs(t, err, paychan.ErrChannelClosing, "announced again (a top-up, say)")
	_, ok := payee.Creditable(ch.ID)
	assert.False(t, ok)
	due, err := payee.Due()
	require.NoError(t, err)
	assert.Equal(t, []paychan.ChannelID{ch.ID}, due, "due at once, though far from expiry")
	require.True(t, payee.NearExpiry(ch.ID), "to be closed, not claimed")
	got, err := payee.Redeem(ctx, ch.ID, payee.NearExpiry(ch.ID))
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(1000), got)
	onChain, err := w.chain.As(w.payeeAddr).Channel(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, onChain.State)

	other := open()
	require.NoError(t, pay(other, 0))
	_, err = payee.Redeem(ctx, other.ID, false)
	require.NoError(t, err)
	assert.NoError(t, pay(other, 1), "a claim leaves the channel open for vouchers")
	_, ok = payee.Creditable(other.ID)
	assert.True(t, ok)
}
