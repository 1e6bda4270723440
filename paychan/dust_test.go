package paychan_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// TestDustNotRedeemedAlone: with the default floors, a channel holding
// less than the redeem floor unredeemed costs the seller no transaction —
// not near its deadline, not at shutdown — while one over it is redeemed,
// and so is the first once its value grows past the floor; a deposit
// below the default minimum is refused.
func TestDustNotRedeemedAlone(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.chain.Mint(w.payerKey.Address(), btt.NewAmount(2_000_000))
	payee, err := paychan.NewPayee(ctx, w.payeeStoreDB, w.chain.As(w.payeeAddr), paychan.PayeeConfig{Self: w.payeeAddr, Now: w.chain.Now})
	require.NoError(t, err)
	open := func(deposit uint64) (paychan.Channel, error) {
		ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(deposit), start.Add(48*time.Hour))
		require.NoError(t, err)
		_, err = payee.Accept(ctx, ch.ID)
		return ch, err
	}
	piece := 0
	pay := func(ch paychan.Channel, amount uint64) {
		sv, err := w.payer.PayForPieces(ch.ID, [20]byte{7}, []paychan.PiecePayment{{Piece: piece, Amount: btt.NewAmount(amount)}})
		require.NoError(t, err)
		piece++
		_, err = payee.Receive(sv)
		require.NoError(t, err)
	}
	_, err = open(100)
	assert.ErrorIs(t, err, paychan.ErrDepositTooSmall)
	dust, err := open(1_000_000)
	require.NoError(t, err)
	pay(dust, 1)
	paid, err := open(1_000_000)
	require.NoError(t, err)
	pay(paid, 100_000)

	w.chain.Advance(46*time.Hour + 30*time.Minute) // within twice the margin of expiry
	due, err := payee.Due()
	require.NoError(t, err)
	assert.Equal(t, []paychan.ChannelID{paid.ID}, due, "the dust is not due")
	got, err := payee.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(100_000), got)
	assert.Equal(t, 1, w.chain.Count("Close"), "one transaction: the channel worth it")
	onChain, err := w.chain.As(w.payeeAddr).Channel(ctx, dust.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelOpen, onChain.State, "the dust channel is left to expire")

	pay(dust, 20_000) // now over the floor
	due, err = payee.Due()
	require.NoError(t, err)
	assert.Equal(t, []paychan.ChannelID{dust.ID}, due)
	got, err = payee.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(20_001), got)
}

// TestRedeemFloor: value below the floor is redeemed by nothing the
// payee decides — not the threshold, not the deadline, not a close — and
// at the floor, as usual.
func TestRedeemFloor(t *testing.T) {
	const margin = time.Hour
	floor := btt.NewAmount(1000)
	far, near := start.Add(48*time.Hour), start.Add(90*time.Minute)
	closing := paychan.Channel{State: paychan.ChannelClosing, Expiry: far, ChallengeEnd: start.Add(time.Hour)}
	tests := []struct {
		name             string
		ch               paychan.Channel
		owed             uint64
		threshold, floor btt.Amount
		payeeClosing     bool
		due, close       bool
	}{
		{"over the threshold, under the floor", paychan.Channel{State: paychan.ChannelOpen, Expiry: far}, 700, btt.NewAmount(500), floor, false, false, false},
		{"over the threshold, at the floor: claimed", paychan.Channel{State: paychan.ChannelOpen, Expiry: far}, 1000, btt.NewAmount(500), floor, false, true, false},
		{"near the deadline, under the floor", paychan.Channel{State: paychan.ChannelOpen, Expiry: near}, 999, btt.Zero, floor, false, false, false},
		{"near the deadline, at the floor: closed", paychan.Channel{State: paychan.ChannelOpen, Expiry: near}, 1000, btt.Zero, floor, false, true, true},
		{"the payer closing, under the floor", closing, 999, btt.Zero, floor, false, false, false},
		{"the payer closing, at the floor: claimed", closing, 1000, btt.Zero, floor, false, true, false},
		{"the payee closing, under the floor", paychan.Channel{State: paychan.ChannelOpen, Expiry: far}, 999, btt.Zero, floor, true, false, false},
		{"a floor of 1 base unit: any value", paychan.Channel{State: paychan.ChannelOpen, Expiry: near}, 1, btt.Zero, btt.NewAmount(1), false, true, true},
		{"a floor of zero is the same", paychan.Channel{State: paychan.ChannelOpen, Expiry: near}, 1, btt.Zero, btt.Zero, false, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := paychan.PayeeRecord{Channel: tc.ch, Best: paychan.SignedVoucher{Voucher: paychan.Voucher{Amount: btt.NewAmount(tc.owed + 5)}}, Redeemed: btt.NewAmount(5)}
			due, close := paychan.RedeemNow(margin, tc.threshold, tc.floor, r, tc.payeeClosing, start)
			assert.Equal(t, tc.due, due, "due")
			assert.Equal(t, tc.close, close, "close")
		})
	}
}

// TestMinDeposit: Accept takes a deposit from MinDeposit up; by default
// from the larger of DefaultMinDeposit and MinRedeem.
func TestMinDeposit(t *testing.T) {
	tests := []struct {
		name                  string
		minDeposit, minRedeem uint64
		deposit               uint64
		ok                    bool
	}{
		{"default: a base unit short", 0, 0, paychan.DefaultMinDeposit - 1, false},
		{"default: at it", 0, 0, paychan.DefaultMinDeposit, true},
		{"default follows a larger MinRedeem", 0, 50_000, 40_000, false},
		{"default follows a larger MinRedeem: at it", 0, 50_000, 50_000, true},
		{"set, below MinRedeem", 1000, 50_000, 1000, true},
		{"set, under it", 1000, 0, 999, false},
		{"1 base unit: anything", 1, 0, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			payee, err := paychan.NewPayee(ctx, w.payeeStoreDB, w.chain.As(w.payeeAddr), paychan.PayeeConfig{Self: w.payeeAddr, Now: w.chain.Now,
				MinDeposit: btt.NewAmount(tc.minDeposit), MinRedeem: btt.NewAmount(tc.minRedeem)})
			require.NoError(t, err)
			ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(tc.deposit), start.Add(48*time.Hour))
			require.NoError(t, err)
			_, err = payee.Accept(ctx, ch.ID)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, paychan.ErrDepositTooSmall)
			assert.Contains(t, err.Error(), btt.NewAmount(tc.deposit).String()+" base units")
			_, known := payee.Channel(ch.ID)
			assert.False(t, known, "not remembered")
		})
	}
}

// TestRedeemAllFloor: at shutdown, RedeemAll redeems a channel's value
// only from the floor up; with close, it still settles a channel paid at
// least the floor in all, and its dust with it.
func TestRedeemAllFloor(t *testing.T) {
	const floor = 16_384
	tests := []struct {
		name            string
		best, claimed   uint64 // claimed: redeemed before, on chain
		close           bool
		got             uint64
		closes, settled bool
	}{
		{"a base unit, never claimed", 1, 0, true, 0, false, false},
		{"under the floor", floor - 1, 0, true, 0, false, false},
		{"at the floor", floor, 0, true, floor, true, true},
		{"claimed in full before: settled", 20_000, 20_000, true, 0, true, true},
		{"dust left after a claim: settled, the dust with it", 20_001, 20_000, true, 1, true, true},
		{"dust left after a claim, claiming only: nothing", 20_001, 20_000, false, 0, false, false},
		{"over the floor, claiming: claimed", 40_000, 20_000, false, 20_000, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			payee, err := paychan.NewPayee(ctx, w.payeeStoreDB, w.chain.As(w.payeeAddr), paychan.PayeeConfig{Self: w.payeeAddr, Now: w.chain.Now})
			require.NoError(t, err)
			ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100_000), start.Add(48*time.Hour))
			require.NoError(t, err)
			_, err = payee.Accept(ctx, ch.ID)
			require.NoError(t, err)
			pay := func(piece int, amount uint64) {
				sv, err := w.payer.PayForPieces(ch.ID, [20]byte{11}, []paychan.PiecePayment{{Piece: piece, Amount: btt.NewAmount(amount)}})
				require.NoError(t, err)
				_, err = payee.Receive(sv)
				require.NoError(t, err)
			}
			if tc.claimed > 0 {
				pay(0, tc.claimed)
				_, err = payee.Redeem(ctx, ch.ID, false)
				require.NoError(t, err)
			}
			if tc.best > tc.claimed {
				pay(1, tc.best-tc.claimed)
			}
			before := w.chain.Count("Close")
			got, err := payee.RedeemAll(ctx, tc.close)
			require.NoError(t, err)
			assert.Equal(t, btt.NewAmount(tc.got), got)
			assert.Equal(t, tc.closes, w.chain.Count("Close") > before, "a close sent")
			onChain, err := w.chain.As(w.payeeAddr).Channel(ctx, ch.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.settled, onChain.State == paychan.ChannelClosed, "settled")
		})
	}
}

// TestRedeemAllClaimsClosing: at shutdown, a channel the payer is closing
// is claimed, not closed — a claim pays the payee alone — and the payer
// reclaims the rest after the challenge window.
func TestRedeemAllClaimsClosing(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	payee, err := paychan.NewPayee(ctx, w.payeeStoreDB, w.chain.As(w.payeeAddr), paychan.PayeeConfig{Self: w.payeeAddr, Now: w.chain.Now})
	require.NoError(t, err)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100_000), start.Add(48*time.Hour))
	require.NoError(t, err)
	_, err = payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	sv, err := w.payer.PayForPieces(ch.ID, [20]byte{12}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(20_000)}})
	require.NoError(t, err)
	_, err = payee.Receive(sv)
	require.NoError(t, err)
	_, err = w.payer.StartClose(ctx, ch.ID)
	require.NoError(t, err)
	w.chain.Advance(time.Minute)
	require.NoError(t, payee.Follow(ctx))

	got, err := payee.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(20_000), got)
	assert.Equal(t, 1, w.chain.Count("Claim"))
	assert.Zero(t, w.chain.Count("Close"))
	w.chain.Advance(time.Hour)
	_, err = w.payer.Reclaim(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(1_000_000-20_000), w.chain.Balance(w.payerKey.Address()))
}
