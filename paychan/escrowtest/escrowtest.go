// Package escrowtest is one behaviour suite for every paychan.Escrow
// backend: a channel's life, the refusals mapped to paychan's sentinels,
// the payer's early close, and — for a backend that can inject them — the
// faults a client must survive without paying twice: the node down at
// open and at close, a transaction dropped on its way, a transaction
// whose outcome the client never heard. A backend's tests call Run with a
// Chain over a real node (bttc over its development chain; tron's over
// its devnet).
package escrowtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// Chain is a deployed escrow on a running chain, with two parties.
type Chain interface {
	// Payer is the escrow as an account holding at least 10^6 of the
	// escrow's token (base units) and what it needs for fees; Payee as
	// another account. Both are the same values on every call.
	Payer() paychan.Escrow
	Payee() paychan.Escrow
	// PayerSigner signs the payer's vouchers; PayeeAddress is the
	// payee's account.
	PayerSigner() paychan.Signer
	PayeeAddress() btt.Address
	// Advance moves the chain's clock forward by at least d.
	Advance(t testing.TB, d time.Duration)
	// Pending reports whether e keeps a transaction whose outcome it
	// does not know yet.
	Pending(e paychan.Escrow) bool
}

// Faulty is a Chain that can fail the node under the payer's and payee's
// escrows.
type Faulty interface {
	Chain
	// SetDown makes every call to the node fail as a node that cannot be
	// reached (true) or lets them through again (false).
	SetDown(down bool)
	// DropNextSend loses the next transaction sent on its way: the send
	// reports success, the node never gets it.
	DropNextSend()
	// LoseNextAnswer lets the next transaction sent reach the node, loses
	// the node's answer, and takes the node down (SetDown(true)).
	LoseNextAnswer()
}

// New starts a fresh Chain for one test.
type New func(t *testing.T) Chain

// Run runs the suite, each test on a fresh chain.
func Run(t *testing.T, newChain New) {
	for _, tc := range []struct {
		name   string
		run    func(t *testing.T, c Chain)
		faulty bool
	}{
		{"Life", life, false},
		{"Refusals", refusals, false},
		{"EarlyClose", earlyClose, false},
		{"NodeDownAtOpen", nodeDownAtOpen, true},
		{"NodeDownAtClose", nodeDownAtClose, true},
		{"DroppedTransaction", droppedTransaction, true},
		{"UnknownOutcome", unknownOutcome, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain(t)
			if _, ok := c.(Faulty); tc.faulty && !ok {
				t.Skip("the backend injects no faults")
			}
			tc.run(t, c)
		})
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// open opens a channel of deposit from the payer to the payee, expiring
// ttl after the chain's time.
func open(t *testing.T, ctx context.Context, c Chain, deposit uint64, ttl time.Duration) paychan.Channel {
	t.Helper()
	now, err := c.Payer().Now(ctx)
	require.NoError(t, err)
	ch, err := c.Payer().Open(ctx, c.PayeeAddress(), btt.NewAmount(deposit), now.Add(ttl))
	require.NoError(t, err)
	return ch
}

func voucher(t *testing.T, ctx context.Context, c Chain, id paychan.ChannelID, amount uint64) paychan.SignedVoucher {
	t.Helper()
	dom, err := c.Payer().Domain(ctx)
	require.NoError(t, err)
	sv, err := paychan.Sign(c.PayerSigner(), dom.Voucher(id, btt.NewAmount(amount)))
	require.NoError(t, err)
	return sv
}

func life(t *testing.T, c Chain) {
	ctx := ctxOf(t)
	ch := open(t, ctx, c, 1000, 24*time.Hour)
	assert.Equal(t, paychan.ChannelOpen, ch.State)
	assert.Equal(t, c.PayerSigner().Address(), ch.Payer)
	assert.Equal(t, btt.NewAmount(1000), ch.Deposit)

	read, err := c.Payee().Channel(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, ch.ID, read.ID)
	assert.Equal(t, ch.Expiry.Unix(), read.Expiry.Unix())

	ch, err = c.Payer().TopUp(ctx, ch.ID, btt.NewAmount(500), ch.Expiry.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(1500), ch.Deposit)

	ch, err = c.Payee().Claim(ctx, voucher(t, ctx, c, ch.ID, 300))
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(300), ch.Paid)
	assert.Equal(t, paychan.ChannelOpen, ch.State)

	ch, err = c.Payee().Close(ctx, voucher(t, ctx, c, ch.ID, 1200))
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(1200), ch.Paid)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	assert.False(t, c.Pending(c.Payer()))
	assert.False(t, c.Pending(c.Payee()))
}

func refusals(t *testing.T, c Chain) {
	ctx := ctxOf(t)
	ch := open(t, ctx, c, 1000, time.Hour)
	_, err := c.Payee().Claim(ctx, voucher(t, ctx, c, ch.ID, 1001))
	assert.ErrorIs(t, err, paychan.ErrOverDeposit)
	bad := voucher(t, ctx, c, ch.ID, 10)
	bad.Sig[3] ^= 1
	_, err = c.Payee().Claim(ctx, bad)
	assert.ErrorIs(t, err, paychan.ErrBadSignature)
	_, err = c.Payee().Channel(ctx, paychan.ChannelID{9})
	assert.ErrorIs(t, err, paychan.ErrUnknownChannel)
	_, err = c.Payee().Claim(ctx, voucher(t, ctx, c, paychan.ChannelID{9}, 1))
	assert.ErrorIs(t, err, paychan.ErrUnknownChannel)
	now, err := c.Payer().Now(ctx)
	require.NoError(t, err)
	_, err = c.Payer().Open(ctx, ch.Payee, btt.NewAmount(1), now.Add(-time.Minute))
	assert.ErrorIs(t, err, paychan.ErrExpired)
	_, err = c.Payer().Open(ctx, ch.Payee, btt.NewAmount(1_000_000_000_000), now.Add(time.Hour))
	var short *paychan.InsufficientFundsError
	assert.ErrorAs(t, err, &short)

	_, err = c.Payee().Close(ctx, voucher(t, ctx, c, ch.ID, 100))
	require.NoError(t, err)
	_, err = c.Payee().Claim(ctx, voucher(t, ctx, c, ch.ID, 200))
	assert.ErrorIs(t, err, paychan.ErrChannelClosed)

	ch = open(t, ctx, c, 1000, 2*time.Hour)
	c.Advance(t, 3*time.Hour)
	_, err = c.Payee().Claim(ctx, voucher(t, ctx, c, ch.ID, 10))
	assert.ErrorIs(t, err, paychan.ErrExpired)
	ch, err = c.Payer().Reclaim(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
}

func earlyClose(t *testing.T, c Chain) {
	ctx := ctxOf(t)
	ch := open(t, ctx, c, 1000, 24*time.Hour)
	ch, err := c.Payer().StartClose(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosing, ch.State)
	require.False(t, ch.ChallengeEnd.IsZero())
	ch, err = c.Payee().Claim(ctx, voucher(t, ctx, c, ch.ID, 400))
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(400), ch.Paid)
	_, err = c.Payer().Reclaim(ctx, ch.ID)
	assert.Error(t, err, "the challenge window is not over")
	now, err := c.Payer().Now(ctx)
	require.NoError(t, err)
	c.Advance(t, ch.ChallengeEnd.Sub(now)+time.Second)
	ch, err = c.Payer().Reclaim(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
}

// mark is the payer's escrow's OpenMark, if it has one.
func mark(t *testing.T, ctx context.Context, c Chain) (uint64, bool) {
	t.Helper()
	f, ok := c.Payer().(paychan.OpenFinder)
	if !ok {
		return 0, false
	}
	m, err := f.OpenMark(ctx)
	require.NoError(t, err)
	return m, true
}

// nodeDownAtOpen: an Open while the node cannot be reached fails with
// ErrChainUnavailable and opens nothing; once it is back, Open works.
func nodeDownAtOpen(t *testing.T, c Chain) {
	ctx := ctxOf(t)
	f := c.(Faulty)
	now, err := c.Payer().Now(ctx)
	require.NoError(t, err)
	payee := c.PayeeAddress()
	before, hasMark := mark(t, ctx, c)
	f.SetDown(true)
	_, err = c.Payer().Open(ctx, payee, btt.NewAmount(1000), now.Add(time.Hour))
	f.SetDown(false)
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	if hasMark {
		after, _ := mark(t, ctx, c)
		assert.Equal(t, before, after, "no channel opened")
	}
	ch, err := c.Payer().Open(ctx, payee, btt.NewAmount(1000), now.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelOpen, ch.State)
}

// nodeDownAtClose: a Close while the node cannot be reached fails with
// ErrChainUnavailable and leaves the channel open; once it is back, the
// same Close pays.
func nodeDownAtClose(t *testing.T, c Chain) {
	ctx := ctxOf(t)
	f := c.(Faulty)
	ch := open(t, ctx, c, 1000, time.Hour)
	sv := voucher(t, ctx, c, ch.ID, 600)
	f.SetDown(true)
	_, err := c.Payee().Close(ctx, sv)
	f.SetDown(false)
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	read, err := c.Payee().Channel(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelOpen, read.State)
	ch, err = c.Payee().Close(ctx, sv)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	assert.Equal(t, btt.NewAmount(600), ch.Paid)
}

// droppedTransaction: a transaction lost on its way to the node is sent
// again (the same signed bytes) and the call completes, having opened
// exactly one channel.
func droppedTransaction(t *testing.T, c Chain) {
	ctx := ctxOf(t)
	f := c.(Faulty)
	payee := c.PayeeAddress()
	before, hasMark := mark(t, ctx, c)
	now, err := c.Payer().Now(ctx)
	require.NoError(t, err)
	f.DropNextSend()
	ch, err := c.Payer().Open(ctx, payee, btt.NewAmount(1000), now.Add(time.Hour))
	if errors.Is(err, paychan.ErrChainUnavailable) {
		// No receipt in the client's time: the next call settles it.
		ch, err = c.Payer().Open(ctx, payee, btt.NewAmount(1000), now.Add(time.Hour))
	}
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelOpen, ch.State)
	if hasMark {
		after, _ := mark(t, ctx, c)
		assert.Equal(t, before+1, after, "exactly one channel opened")
	}
	assert.False(t, c.Pending(c.Payer()))
}

// unknownOutcome: the node takes an open's transaction but its answer is
// lost and the node goes away: Open fails with ErrChainUnavailable and
// keeps the transaction; the same Open, once the node is back, returns
// that transaction's channel — one channel, one deposit.
func unknownOutcome(t *testing.T, c Chain) {
	ctx := ctxOf(t)
	f := c.(Faulty)
	payee := c.PayeeAddress()
	before, hasMark := mark(t, ctx, c)
	now, err := c.Payer().Now(ctx)
	require.NoError(t, err)
	f.LoseNextAnswer()
	_, err = c.Payer().Open(ctx, payee, btt.NewAmount(1000), now.Add(time.Hour))
	require.ErrorIs(t, err, paychan.ErrChainUnavailable)
	assert.True(t, c.Pending(c.Payer()), "the signed transaction is kept")
	f.SetDown(false)
	ch, err := c.Payer().Open(ctx, payee, btt.NewAmount(1000), now.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, btt.NewAmount(1000), ch.Deposit)
	if hasMark {
		after, _ := mark(t, ctx, c)
		assert.Equal(t, before+1, after, "exactly one channel opened")
	}
	assert.False(t, c.Pending(c.Payer()))
}
