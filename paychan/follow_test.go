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

// runRedeemer runs r until the test ends and returns what its Report
// sees: a redemption, or a failure, per call.
func runRedeemer(t *testing.T, r *paychan.Redeemer) <-chan report {
	t.Helper()
	reports := make(chan report, 64)
	r.Report = func(id paychan.ChannelID, got btt.Amount, err error) {
		select {
		case reports <- report{id, got, err}:
		default: // the test stopped listening
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return reports
}

type report struct {
	id  paychan.ChannelID
	got btt.Amount
	err error
}

// waitRedeemed waits, at most 10 s, until the redeemer's reports add up
// to want on channel id.
func waitRedeemed(t *testing.T, reports <-chan report, id paychan.ChannelID, want btt.Amount) {
	t.Helper()
	var got btt.Amount
	timeout := time.After(10 * time.Second)
	for got != want {
		select {
		case r := <-reports:
			if r.err == nil && r.id == id {
				got, _ = got.Add(r.got)
			}
		case <-timeout:
			require.Failf(t, "not redeemed", "the redeemer redeemed %s of %s", got, want)
		}
	}
}

// TestStartCloseAttack plays issue 23's attack on a seller: the payer
// opens a channel, has it accepted, starts its early close on chain at
// once, and buys on it — the seller still holds the channel as open and
// credits every voucher. After the challenge window the payer reclaims.
// The seller must be paid everything it credited before the window
// ends, and refuse vouchers once it has seen the close.
func TestStartCloseAttack(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	payee, err := paychan.NewPayee(ctx, w.payeeStoreDB, w.chain.As(w.payeeAddr), paychan.PayeeConfig{Self: w.payeeAddr, Now: w.chain.Now})
	require.NoError(t, err)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100_000), start.Add(48*time.Hour))
	require.NoError(t, err)
	_, err = payee.Accept(ctx, ch.ID)
	require.NoError(t, err)

	closing, err := w.payer.StartClose(ctx, ch.ID)
	require.NoError(t, err)
	var credited btt.Amount
	for i := range 5 {
		sv, err := w.payer.PayForPieces(ch.ID, [20]byte{23}, []paychan.PiecePayment{{Piece: i, Amount: btt.NewAmount(10_000)}})
		require.NoError(t, err)
		d, err := payee.Receive(sv)
		require.NoError(t, err, "the payee has not read the channel since it accepted it: it credits")
		credited, _ = credited.Add(d)
	}
	require.Equal(t, btt.NewAmount(50_000), credited)

	reports := runRedeemer(t, &paychan.Redeemer{Payee: payee, Interval: 5 * time.Millisecond})
	// A few minutes pass, far inside the challenge window: the payee
	// follows the channel, sees it closing and redeems at once.
	w.chain.Advance(3 * time.Minute)
	waitRedeemed(t, reports, ch.ID, credited)
	require.True(t, w.chain.Now().Before(closing.ChallengeEnd))
	assert.Equal(t, credited, w.chain.Balance(w.payeeAddr), "the seller is paid all it credited")
	assert.Equal(t, 1, w.chain.Count("Claim"), "claimed: the payer is closing it")

	sv, err := w.payer.PayForPieces(ch.ID, [20]byte{23}, []paychan.PiecePayment{{Piece: 9, Amount: btt.NewAmount(10_000)}})
	require.NoError(t, err)
	_, err = payee.Receive(sv)
	assert.ErrorIs(t, err, paychan.ErrChannelClosed, "a voucher after the payee saw the close is refused")

	// The window ends; the payer reclaims the rest of its deposit, and
	// only that.
	w.chain.Advance(2 * time.Hour)
	_, err = w.payer.Reclaim(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(1_000_000).SubFloor(credited), w.chain.Balance(w.payerKey.Address()))
	assert.Equal(t, credited, w.chain.Balance(w.payeeAddr))
}

func TestDeadline(t *testing.T) {
	expiry := start.Add(48 * time.Hour)
	tests := []struct {
		name string
		ch   paychan.Channel
		want time.Time
	}{
		{"open: the expiry", paychan.Channel{State: paychan.ChannelOpen, Expiry: expiry}, expiry},
		{"closing: the challenge deadline, before the expiry", paychan.Channel{State: paychan.ChannelClosing, Expiry: expiry, ChallengeEnd: start.Add(time.Hour)}, start.Add(time.Hour)},
		{"closing: the expiry, before the challenge deadline", paychan.Channel{State: paychan.ChannelClosing, Expiry: start.Add(time.Minute), ChallengeEnd: start.Add(time.Hour)}, start.Add(time.Minute)},
		{"closing, both equal", paychan.Channel{State: paychan.ChannelClosing, Expiry: expiry, ChallengeEnd: expiry}, expiry},
		{"closing without a challenge deadline (a bad record): the expiry", paychan.Channel{State: paychan.ChannelClosing, Expiry: expiry}, expiry},
		{"closed: none", paychan.Channel{State: paychan.ChannelClosed, Expiry: expiry, ChallengeEnd: start.Add(time.Hour)}, time.Time{}},
		{"unknown: none", paychan.Channel{Expiry: expiry}, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.True(t, tc.want.Equal(paychan.Deadline(tc.ch)), "got %s", paychan.Deadline(tc.ch))
		})
	}
}

func TestRedeemNow(t *testing.T) {
	const margin = time.Hour
	threshold := btt.NewAmount(100)
	far := start.Add(48 * time.Hour)
	open := func(expiry time.Time) paychan.Channel {
		return paychan.Channel{State: paychan.ChannelOpen, Expiry: expiry}
	}
	closing := func(end time.Time) paychan.Channel {
		return paychan.Channel{State: paychan.ChannelClosing, Expiry: far, ChallengeEnd: end}
	}
	tests := []struct {
		name       string
		ch         paychan.Channel
		best, done uint64
		threshold  btt.Amount
		closing    bool // the payee's own close begun
		due, close bool
	}{
		{"nothing owed", open(far), 500, 500, threshold, false, false, false},
		{"under the threshold, far from expiry", open(far), 50, 0, threshold, false, false, false},
		{"at the threshold: claimed", open(far), 150, 50, threshold, false, true, false},
		{"no threshold: only near the deadline", open(far), 1_000_000, 0, btt.Zero, false, false, false},
		{"expiry within twice the margin: closed", open(start.Add(2 * margin)), 50, 0, threshold, false, true, true},
		{"expiry just past twice the margin", open(start.Add(2*margin + time.Second)), 50, 0, threshold, false, false, false},
		{"expired: nothing can be redeemed", open(start), 50, 0, threshold, false, false, false},
		{"the payer closing, the challenge deadline near: claimed", closing(start.Add(50 * time.Minute)), 50, 0, threshold, false, true, false},
		{"the payer closing, the challenge deadline far: claimed all the same", closing(start.Add(10 * time.Hour)), 50, 0, threshold, false, true, false},
		{"the payer closing, over the threshold: claimed", closing(start.Add(10 * time.Hour)), 500, 0, threshold, false, true, false},
		{"the payer closing, the expiry near: claimed, not closed", paychan.Channel{State: paychan.ChannelClosing, Expiry: start.Add(time.Hour), ChallengeEnd: start.Add(50 * time.Minute)}, 50, 0, threshold, false, true, false},
		{"the payer and the payee closing: closed", closing(start.Add(50 * time.Minute)), 50, 0, threshold, true, true, true},
		{"closing, nothing owed", closing(start.Add(50 * time.Minute)), 50, 50, threshold, false, false, false},
		{"closing, the challenge window over", closing(start), 50, 0, threshold, false, false, false},
		{"closing, the expiry before the challenge deadline, passed", paychan.Channel{State: paychan.ChannelClosing, Expiry: start, ChallengeEnd: start.Add(time.Hour)}, 50, 0, threshold, false, false, false},
		{"closed", paychan.Channel{State: paychan.ChannelClosed, Expiry: far}, 500, 0, threshold, false, false, false},
		{"the payee closing (its close failed): closed", open(far), 50, 0, threshold, true, true, true},
		{"the payee closing, nothing owed", open(far), 50, 50, threshold, true, false, false},
		{"the payee closing, expired", open(start), 50, 0, threshold, true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := paychan.PayeeRecord{Channel: tc.ch, Best: paychan.SignedVoucher{Voucher: paychan.Voucher{Amount: btt.NewAmount(tc.best)}}, Redeemed: btt.NewAmount(tc.done)}
			due, close := paychan.RedeemNow(margin, tc.threshold, btt.Zero, r, tc.closing, start)
			assert.Equal(t, tc.due, due, "due")
			assert.Equal(t, tc.close, close, "close")
		})
	}
}

func TestFollowed(t *testing.T) {
	const margin = time.Hour
	far := start.Add(48 * time.Hour)
	tests := []struct {
		name string
		ch   paychan.Channel
		owed uint64
		want bool
	}{
		{"open, may be credited", paychan.Channel{State: paychan.ChannelOpen, Expiry: far}, 0, true},
		{"open within the margin, nothing owed: no more credit, nothing to redeem", paychan.Channel{State: paychan.ChannelOpen, Expiry: start.Add(margin)}, 0, false},
		{"open within the margin, value owed", paychan.Channel{State: paychan.ChannelOpen, Expiry: start.Add(margin)}, 7, true},
		{"open, expired", paychan.Channel{State: paychan.ChannelOpen, Expiry: start}, 7, false},
		{"closing, value owed (until it is redeemed)", paychan.Channel{State: paychan.ChannelClosing, Expiry: far, ChallengeEnd: start.Add(time.Hour)}, 7, true},
		{"closing, nothing owed", paychan.Channel{State: paychan.ChannelClosing, Expiry: far, ChallengeEnd: start.Add(time.Hour)}, 0, false},
		{"closed", paychan.Channel{State: paychan.ChannelClosed, Expiry: far}, 7, false},
		{"open within the margin, dust owed (below the floor of 5)", paychan.Channel{State: paychan.ChannelOpen, Expiry: start.Add(margin)}, 4, false},
		{"closing, dust owed", paychan.Channel{State: paychan.ChannelClosing, Expiry: far, ChallengeEnd: start.Add(time.Hour)}, 4, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, paychan.Followed(margin, btt.NewAmount(5), tc.ch, btt.NewAmount(tc.owed), start))
		})
	}
}

func TestRetryWait(t *testing.T) {
	const every = time.Minute
	tests := []struct {
		name             string
		last, left, want time.Duration
	}{
		{"first failure: an interval", 0, 48 * time.Hour, every},
		{"then doubling", 4 * every, 48 * time.Hour, 8 * every},
		{"up to 32 intervals", 32 * every, 48 * time.Hour, 32 * every},
		{"deadline unknown or past: no cap", 16 * every, 0, 32 * every},
		{"at most half of what is left", 16 * every, 20 * time.Minute, 10 * time.Minute},
		{"but at least an interval", 16 * every, time.Minute, every},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, paychan.RetryWait(tc.last, every, tc.left))
		})
	}
}

// TestFollowSeesEarlyClose: the payee reads an accepted channel again at
// most once per FollowInterval; once it has seen the payer's early
// close, the channel takes no more vouchers, is not creditable, is due
// to be closed, and a payee restarted on the store knows it.
func TestFollowSeesEarlyClose(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	cfg := tiny(paychan.PayeeConfig{Self: w.payeeAddr, Now: w.chain.Now, FollowInterval: time.Minute})
	payee, err := paychan.NewPayee(ctx, w.payeeStoreDB, w.chain.As(w.payeeAddr), cfg)
	require.NoError(t, err)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100_000), start.Add(48*time.Hour))
	require.NoError(t, err)
	_, err = payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	until, ok := payee.Creditable(ch.ID)
	assert.True(t, ok)
	assert.Equal(t, start.Add(47*time.Hour), until, "the expiry less the margin")
	pay := func(piece int) error {
		sv, err := w.payer.PayForPieces(ch.ID, [20]byte{4}, []paychan.PiecePayment{{Piece: piece, Amount: btt.NewAmount(1000)}})
		require.NoError(t, err)
		_, err = payee.Receive(sv)
		return err
	}
	require.NoError(t, pay(0))

	reads := w.chain.Count("Channel")
	require.NoError(t, payee.Follow(ctx))
	assert.Equal(t, reads, w.chain.Count("Channel"), "read when accepted: not again within the interval")
	_, err = w.payer.StartClose(ctx, ch.ID)
	require.NoError(t, err)
	w.chain.Advance(59 * time.Second)
	require.NoError(t, payee.Follow(ctx))
	assert.Equal(t, reads, w.chain.Count("Channel"))
	require.NoError(t, pay(1), "not seen yet")
	due, err := payee.Due()
	require.NoError(t, err)
	assert.Empty(t, due, "2000 owed, no threshold, far from expiry")

	w.chain.Advance(time.Second)
	require.NoError(t, payee.Follow(ctx))
	require.NoError(t, payee.Follow(ctx))
	assert.Equal(t, reads+1, w.chain.Count("Channel"), "one read per interval")
	got, ok := payee.Channel(ch.ID)
	require.True(t, ok)
	assert.Equal(t, paychan.ChannelClosing, got.State)
	_, ok = payee.Creditable(ch.ID)
	assert.False(t, ok)
	assert.ErrorIs(t, pay(2), paychan.ErrChannelClosed)
	due, err = payee.Due()
	require.NoError(t, err)
	assert.Equal(t, []paychan.ChannelID{ch.ID}, due, "closing with value owed: due at once")
	assert.False(t, payee.NearExpiry(ch.ID), "claimed, not closed: the payer reclaims the rest")

	restarted, err := paychan.NewPayee(ctx, w.payeeStoreDB, w.chain.As(w.payeeAddr), cfg)
	require.NoError(t, err)
	got, _ = restarted.Channel(ch.ID)
	assert.Equal(t, paychan.ChannelClosing, got.State, "stored")
	due, err = restarted.Due()
	require.NoError(t, err)
	assert.Equal(t, []paychan.ChannelID{ch.ID}, due)

	redeemed, err := payee.Redeem(ctx, ch.ID, payee.NearExpiry(ch.ID))
	require.NoError(t, err, "claimed before the challenge deadline")
	assert.Equal(t, btt.NewAmount(2000), redeemed)
	w.chain.Advance(time.Minute)
	reads = w.chain.Count("Channel")
	require.NoError(t, payee.Follow(ctx))
	assert.Equal(t, reads, w.chain.Count("Channel"), "a closing channel with nothing owed is followed no more")
}

// TestFollowSeesClosed: a channel closed on chain behind the payee's back
// (its own close, mined before a crash, unrecorded) is remembered closed
// — no vouchers, not due — and RedeemAll then records what the chain
// paid on it, once.
func TestFollowSeesClosed(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	payee, err := paychan.NewPayee(ctx, w.payeeStoreDB, w.chain.As(w.payeeAddr), paychan.PayeeConfig{Self: w.payeeAddr, Now: w.chain.Now})
	require.NoError(t, err)
	ch, err := w.payer.Open(ctx, w.payeeAddr, btt.NewAmount(100_000), start.Add(48*time.Hour))
	require.NoError(t, err)
	_, err = payee.Accept(ctx, ch.ID)
	require.NoError(t, err)
	sv, err := w.payer.PayForPieces(ch.ID, [20]byte{13}, []paychan.PiecePayment{{Piece: 0, Amount: btt.NewAmount(30_000)}})
	require.NoError(t, err)
	_, err = payee.Receive(sv)
	require.NoError(t, err)
	_, err = w.chain.As(w.payeeAddr).Close(ctx, sv) // mined; the store never hears of it
	require.NoError(t, err)

	w.chain.Advance(time.Minute)
	require.NoError(t, payee.Follow(ctx))
	got, _ := payee.Channel(ch.ID)
	assert.Equal(t, paychan.ChannelClosed, got.State)
	more, err := w.payer.PayForPieces(ch.ID, [20]byte{13}, []paychan.PiecePayment{{Piece: 1, Amount: btt.NewAmount(1000)}})
	require.NoError(t, err)
	_, err = payee.Receive(more)
	assert.ErrorIs(t, err, paychan.ErrChannelClosed)
	due, err := payee.Due()
	require.NoError(t, err)
	assert.Empty(t, due)

	redeemed, err := payee.RedeemAll(ctx, true)
	require.NoError(t, err)
	assert.True(t, redeemed.IsZero(), "paid already: %s", redeemed)
	tot, err := payee.Totals()
	require.NoError(t, err)
	assert.True(t, tot.Redeemable.IsZero(), "recorded as redeemed: %+v", tot)
	assert.Equal(t, btt.NewAmount(30_000), w.chain.Balance(w.payeeAddr), "paid once")
}
