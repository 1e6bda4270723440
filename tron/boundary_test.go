package tron

// Claim, close and reclaim at the exact second of the escrow's boundaries,
// on the devnet through this package's client (issue 23), and the chain
// side of the escrow's review: what tron makes of what the contract lets a
// payer do (tron/contracts/boundary_test.go has the rest of the review).
//
// The contract's boundaries: the payee redeems (claim, close) while
// block.timestamp < expiry (open channel) or < challengeEnd (closing);
// the payer reclaims once block.timestamp >= expiry (open) or >=
// challengeEnd (closing). The devnet mines a block per 3 s slot, so a
// test picks the expiry, or the challenge period, that puts the boundary
// second on a slot and has the transaction mined in that very block.

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// slotAfter is the first block slot (a multiple of the block time) at or
// after t.
func slotAfter(t time.Time) time.Time {
	ms := devnet.BlockTime.Milliseconds()
	return time.UnixMilli((t.UnixMilli() + ms - 1) / ms * ms).UTC()
}

// nextBlockAt moves the devnet's clock so that the next block is mined at
// exactly ts, a slot after the head block's.
func nextBlockAt(t testing.TB, node *devnet.Node, ts time.Time) {
	t.Helper()
	ms := devnet.BlockTime.Milliseconds()
	require.Zero(t, ts.UnixMilli()%ms, "%s is not a block slot", ts)
	_, head := node.Head()
	require.False(t, ts.Before(head.Add(devnet.BlockTime)), "the block at %s is past: the head is at %s", ts, head)
	if d := ts.Add(-devnet.BlockTime).Sub(node.Now()); d > 0 {
		node.Advance(d) // mines an empty block at ts - 3 s if the head is older
	}
	// The devnet mines the next block at the later of the head's time
	// plus 3 s and the clock rounded down to a slot.
	_, head = node.Head()
	now := node.Now().UnixMilli()
	require.Equal(t, ts.UnixMilli(), max(head.UnixMilli()+ms, now-now%ms), "the next block's time")
}

// requireHeadAt checks that the head block, the one the last transaction
// went into, is at ts.
func requireHeadAt(t testing.TB, node *devnet.Node, ts time.Time) {
	t.Helper()
	_, head := node.Head()
	require.Equal(t, ts.UnixMilli(), head.UnixMilli(), "the head block is at %s, not %s", head.UTC(), ts)
}

// sendAt has c's call of `to` mined in the block at exactly ts without the
// client's simulation first: the simulation runs on the head block, 3 s
// before, where a reclaim that the block at ts accepts is still refused.
// It returns the receipt's error: nil, or the *RevertError of a revert.
func sendAt(t testing.TB, node *devnet.Node, c *Client, to btt.Address, data []byte, ts time.Time) error {
	t.Helper()
	nextBlockAt(t, node, ts)
	ctx := context.Background()
	ext, err := c.sdk.TriggerContractWithDataCtx(ctx, sdkAddr(c.Address()), sdkAddr(to), data, c.cfg.FeeLimit, 0, "", 0)
	require.NoError(t, err)
	tx, err := c.sign(ext.GetTransaction())
	require.NoError(t, err)
	require.NoError(t, c.broadcast(ctx, tx))
	r, err := c.Confirm(ctx, tx)
	require.NotNil(t, r, "no receipt: %v", err)
	require.Equal(t, ts.UnixMilli(), r.BlockTime.UnixMilli(), "mined at %s, not %s", r.BlockTime, ts)
	return err
}

// requireRevert checks that err is the contract's revert with reason,
// mapped to is; mined says whether it was a transaction in a block (a
// TxID) or the client's simulation refusing it before anything was sent.
func requireRevert(t testing.TB, err error, reason string, is error, mined bool) {
	t.Helper()
	require.Error(t, err)
	var re *RevertError
	require.ErrorAs(t, err, &re, "%v", err)
	assert.Equal(t, reason, re.Reason)
	if is != nil {
		assert.ErrorIs(t, err, is)
	}
	if mined {
		assert.NotEmpty(t, re.TxID, "a reverted transaction")
	} else {
		assert.Empty(t, re.TxID, "refused by the simulation, never sent")
	}
}

// books follows the token balances of a payer, a payee and an escrow.
type books struct {
	t    testing.TB
	node *devnet.Node
	who  [3]btt.Address // payer, payee, escrow
	want [3]btt.Amount
}

func newBooks(t testing.TB, node *devnet.Node, payer, payee, escrow btt.Address) *books {
	b := &books{t: t, node: node, who: [3]btt.Address{payer, payee, escrow}}
	for i, a := range b.who {
		b.want[i] = node.TokenBalance(a)
	}
	return b
}

// move applies a step's token moves (gains of the payer, the payee and
// the escrow; negative for losses) and checks all three balances.
func (b *books) move(step string, payer, payee, escrow int64) {
	b.t.Helper()
	for i, d := range [3]int64{payer, payee, escrow} {
		if d >= 0 {
			b.want[i] = add(b.want[i], uint64(d))
		} else {
			b.want[i] = sub(b.want[i], uint64(-d))
		}
	}
	got := [3]btt.Amount{}
	for i, a := range b.who {
		got[i] = b.node.TokenBalance(a)
	}
	require.Equal(b.t, b.want, got, "balances (payer, payee, escrow) after %s", step)
}

// signFor is the payer's voucher for amount on channel id of escrow.
func (e *env) signFor(t testing.TB, escrow btt.Address, id paychan.ChannelID, amount uint64) paychan.SignedVoucher {
	t.Helper()
	sv, err := paychan.Sign(e.payerKey, paychan.Voucher{ChainID: e.node.ChainID(), Escrow: escrow, Channel: id, Amount: amt(amount)})
	require.NoError(t, err)
	return sv
}

// side is one escrow as the payer and the payee see it.
type side struct {
	payer, payee *Escrow
	period       time.Duration
}

// TestBoundaryRedeemWindow: claim, close and reclaim in the block at one
// second before the boundary, at it, and after it, for an open channel
// (the boundary is its expiry) and for one the payer started closing (the
// challenge end). Each case has its own channel: 1000 deposited, 250
// claimed; the voucher redeemed is for 600.
//
// Semantics shown: at boundary - 1 s claim and close succeed and reclaim
// fails ("escrow: not expired", ErrNotExpired); at the boundary claim and
// close fail ("escrow: redeem window over", paychan.ErrExpired) and
// reclaim succeeds, refunding deposit - paid: the redeem window is
// now < boundary, the reclaim now >= boundary, with neither a gap nor an
// overlap.
func TestBoundaryRedeemWindow(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil, WithApprove(ApproveUnlimited))
	// The devnet's escrow has a challenge period of 3600 s, a whole number
	// of slots: challengeEnd lands on a slot, challengeEnd - 1 s never
	// does. A second escrow over the same token, with 3601 s, has it the
	// other way round.
	_, deployer := dialKey(t, e.node, e.node.Keys()[2], func(c *Config) { c.FeeLimit = 1000 * SunPerTRX })
	other, err := DeployEscrow(ctx, deployer, e.token, 3601*time.Second)
	require.NoError(t, err)
	otherPayer, err := NewEscrow(e.payerC, other.Address(), WithApprove(ApproveUnlimited))
	require.NoError(t, err)
	otherPayee, err := NewEscrow(e.payeeC, other.Address())
	require.NoError(t, err)
	sides := []side{
		{e.payerE, e.payeeE, devnet.DefaultChallengePeriod},
		{otherPayer, otherPayee, 3601 * time.Second},
	}

	type boundaryCase struct {
		op      string // claim, close or reclaim
		closing bool   // the payer started closing: the boundary is challengeEnd, else the expiry
		at      int64  // seconds from the boundary
		reason  string // the revert reason; "" for success
		is      error
		// The token moves: the payer's and the payee's gains (the escrow
		// pays both).
		payer, payee int64
	}
	const (
		windowOver  = "escrow: redeem window over"
		notExpired  = "escrow: not expired"
		paidToPayee = 600 - 250
		refund      = 1000 - 600
		reclaimed   = 1000 - 250
	)
	cases := []boundaryCase{
		{"claim", false, -1, "", nil, 0, paidToPayee},
		{"close", false, -1, "", nil, refund, paidToPayee},
		{"reclaim", false, -1, notExpired, ErrNotExpired, 0, 0},
		{"claim", false, 0, windowOver, paychan.ErrExpired, 0, 0},
		{"close", false, 0, windowOver, paychan.ErrExpired, 0, 0},
		{"reclaim", false, 0, "", nil, reclaimed, 0},
		{"reclaim", false, 3, "", nil, reclaimed, 0},

		{"claim", true, -1, "", nil, 0, paidToPayee},
		{"close", true, -1, "", nil, refund, paidToPayee},
		{"reclaim", true, -1, notExpired, ErrNotExpired, 0, 0},
		{"claim", true, 0, windowOver, paychan.ErrExpired, 0, 0},
		{"close", true, 0, windowOver, paychan.ErrExpired, 0, 0},
		{"reclaim", true, 0, "", nil, reclaimed, 0},
		{"reclaim", true, 3, "", nil, reclaimed, 0},
	}
	for _, c := range cases {
		boundary := "expiry"
		if c.closing {
			boundary = "challengeEnd"
		}
		name := fmt.Sprintf("%s at %s%+d s", c.op, boundary, c.at)
		if c.at == 0 {
			name = fmt.Sprintf("%s at %s", c.op, boundary)
		}
		t.Run(name, func(t *testing.T) {
			// The escrow whose challenge period puts challengeEnd + at on
			// a slot (for an open channel the expiry is chosen instead).
			s := sides[0]
			if c.closing && (int64(s.period/time.Second)+c.at)%3 != 0 {
				s = sides[1]
			}
			esc := s.payer.Address()
			bk := newBooks(t, e.node, e.payerKey.Address(), e.payee.Address(), esc)

			at := slotAfter(e.node.Now().Add(time.Minute)) // when the step runs
			expiry := at.Add(-time.Duration(c.at) * time.Second)
			if c.closing {
				expiry = e.node.Now().Add(24 * time.Hour)
			}
			ch, err := s.payer.Open(ctx, e.payee.Address(), amt(1000), expiry)
			require.NoError(t, err)
			bk.move("open", -1000, 0, 1000)
			_, err = s.payee.Claim(ctx, e.signFor(t, esc, ch.ID, 250))
			require.NoError(t, err)
			bk.move("a claim of 250", 0, 250, -250)
			end := ch.Expiry
			if c.closing {
				start := slotAfter(e.node.Now().Add(time.Minute))
				nextBlockAt(t, e.node, start)
				ch, err = s.payer.StartClose(ctx, ch.ID)
				require.NoError(t, err)
				requireHeadAt(t, e.node, start)
				require.Equal(t, start.Add(s.period).Unix(), ch.ChallengeEnd.Unix(), "challengeEnd = startClose's block time + period")
				end = ch.ChallengeEnd
				at = end.Add(time.Duration(c.at) * time.Second)
			}
			require.Equal(t, end.Add(time.Duration(c.at)*time.Second).Unix(), at.Unix())

			sv := e.signFor(t, esc, ch.ID, 600)
			var run func() error // the step through the client
			switch c.op {
			case "claim":
				run = func() error { _, err := s.payee.Claim(ctx, sv); return err }
			case "close":
				run = func() error { _, err := s.payee.Close(ctx, sv); return err }
			case "reclaim":
				run = func() error { _, err := s.payer.Reclaim(ctx, ch.ID); return err }
			}
			if c.op == "reclaim" {
				// The client's simulation, on the block before, would
				// refuse a reclaim at the boundary: send it unsimulated.
				data, err := s.payer.abi.Pack("reclaim", [32]byte(ch.ID))
				require.NoError(t, err)
				err = sendAt(t, e.node, e.payerC, esc, data, at)
				if c.reason == "" {
					require.NoError(t, err)
				} else {
					requireRevert(t, err, c.reason, c.is, true)
				}
			} else {
				// The simulation on the block before agrees with the
				// block at the step: the client sends it, and it is
				// judged in that block.
				nextBlockAt(t, e.node, at)
				err := run()
				requireHeadAt(t, e.node, at)
				if c.reason == "" {
					require.NoError(t, err)
				} else {
					requireRevert(t, err, c.reason, c.is, true)
				}
			}
			bk.move(c.op, c.payer, c.payee, -(c.payer + c.payee))

			if c.reason != "" {
				// With the head block at the step's second, the client's
				// simulation refuses it the same way, before sending.
				requireHeadAt(t, e.node, at)
				requireRevert(t, run(), c.reason, c.is, false)
				if c.at == 0 {
					e.node.Advance(time.Hour) // and after
					requireRevert(t, run(), c.reason, c.is, false)
				}
				bk.move("refusals", 0, 0, 0)
				return
			}
			got, err := s.payee.Channel(ctx, ch.ID)
			require.NoError(t, err)
			if c.op == "claim" {
				assert.Equal(t, amt(600), got.Paid)
				assert.NotEqual(t, paychan.ChannelClosed, got.State)
				return
			}
			assert.Equal(t, paychan.ChannelClosed, got.State)
			// Nothing more comes out of a settled channel.
			_, err = s.payee.Claim(ctx, e.signFor(t, esc, ch.ID, 700))
			requireRevert(t, err, "escrow: channel closed", paychan.ErrChannelClosed, false)
			_, err = s.payer.Reclaim(ctx, ch.ID)
			requireRevert(t, err, "escrow: channel closed", paychan.ErrChannelClosed, false)
			bk.move("refusals", 0, 0, 0)
		})
	}
}

// TestBoundaryRedeemRules: the other rules of redeeming, on an open channel
// and then a closing one, with the token balances after every step.
func TestBoundaryRedeemRules(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil, WithApprove(ApproveUnlimited))
	bk := newBooks(t, e.node, e.payerKey.Address(), e.payee.Address(), e.escrow)
	stranger := testSigner(t, 9)

	ch := e.open(t, 1000, 24*time.Hour)
	bk.move("open", -1000, 0, 1000)
	_, err := e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 200))
	require.NoError(t, err)
	bk.move("claim 200", 0, 200, -200)

	// The same amount again: not increasing, refused by the client's
	// simulation and, sent anyway, by the contract in its block; it pays
	// nothing either way.
	_, err = e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 200))
	requireRevert(t, err, "escrow: not increasing", paychan.ErrNotIncreasing, false)
	sv200 := e.voucher(t, ch.ID, 200)
	again, err := e.payeeE.abi.Pack("claim", [32]byte(ch.ID), amt(200).Big(), sv200.Sig[:])
	require.NoError(t, err)
	_, head := e.node.Head()
	err = sendAt(t, e.node, e.payeeC, e.escrow, again, head.Add(devnet.BlockTime))
	requireRevert(t, err, "escrow: not increasing", paychan.ErrNotIncreasing, true)
	bk.move("claim 200 again", 0, 0, 0)

	// Above the deposit; signed by another key.
	_, err = e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 1001))
	requireRevert(t, err, "escrow: over deposit", paychan.ErrOverDeposit, false)
	forged, err := paychan.Sign(stranger, e.voucher(t, ch.ID, 300).Voucher)
	require.NoError(t, err)
	_, err = e.payeeE.Claim(ctx, forged)
	requireRevert(t, err, "escrow: bad signature", paychan.ErrBadSignature, false)
	_, err = e.payeeE.Close(ctx, forged)
	requireRevert(t, err, "escrow: bad signature", paychan.ErrBadSignature, false)
	bk.move("refused vouchers", 0, 0, 0)

	// The payer starts closing: no more top-ups.
	ch, err = e.payerE.StartClose(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosing, ch.State)
	_, err = e.payerE.TopUp(ctx, ch.ID, amt(100), ch.Expiry)
	requireRevert(t, err, "escrow: channel not open", paychan.ErrChannelClosed, false)
	_, err = e.payerE.TopUp(ctx, ch.ID, btt.Zero, ch.Expiry.Add(time.Hour))
	requireRevert(t, err, "escrow: channel not open", paychan.ErrChannelClosed, false)
	_, err = e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 1001))
	requireRevert(t, err, "escrow: over deposit", paychan.ErrOverDeposit, false)
	_, err = e.payeeE.Claim(ctx, forged)
	requireRevert(t, err, "escrow: bad signature", paychan.ErrBadSignature, false)
	_, err = e.payerE.Reclaim(ctx, ch.ID)
	requireRevert(t, err, "escrow: not expired", ErrNotExpired, false)
	bk.move("refusals while closing", 0, 0, 0)

	// In the window: a claim, then a close paying only the difference.
	e.node.Advance(30 * time.Minute)
	ch, err = e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 500))
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosing, ch.State, "a claim leaves it closing")
	bk.move("claim 500", 0, 300, -300)
	ch, err = e.payeeE.Close(ctx, e.voucher(t, ch.ID, 800))
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	assert.Equal(t, amt(800), ch.Paid)
	bk.move("close 800", 200, 300, -500)
	_, err = e.payerE.Reclaim(ctx, ch.ID)
	requireRevert(t, err, "escrow: channel closed", paychan.ErrChannelClosed, false)
	bk.move("reclaim after close", 0, 0, 0)

	// A channel the payer reclaims after the challenge window: exactly
	// deposit - paid back, and nothing redeems after.
	ch = e.open(t, 1000, 24*time.Hour)
	bk.move("open", -1000, 0, 1000)
	_, err = e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 250))
	require.NoError(t, err)
	bk.move("claim 250", 0, 250, -250)
	ch, err = e.payerE.StartClose(ctx, ch.ID)
	require.NoError(t, err)
	e.node.Advance(ch.ChallengeEnd.Sub(e.node.Now()))
	requireHeadAt(t, e.node, ch.ChallengeEnd)
	ch, err = e.payerE.Reclaim(ctx, ch.ID)
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelClosed, ch.State)
	bk.move("reclaim", 750, 0, -750)
	_, err = e.payeeE.Claim(ctx, e.voucher(t, ch.ID, 400))
	requireRevert(t, err, "escrow: channel closed", paychan.ErrChannelClosed, false)
	_, err = e.payeeE.Close(ctx, e.voucher(t, ch.ID, 400))
	requireRevert(t, err, "escrow: channel closed", paychan.ErrChannelClosed, false)
	bk.move("redeem after reclaim", 0, 0, 0)
}

// TestReviewExpiryPastInt64 (the review's case 6, issue 30 item 3): a
// payer with another client than tron.Escrow tries to open a channel, or
// push the expiry of one the payee accepted, past 2^63-1 seconds, where
// tron's decoder used to refuse the channel: the contract refuses both
// ("escrow: expiry too far", ErrExpiryTooFar), the payee still reads its
// channel, and tron.Escrow refuses such an expiry before it approves.
func TestReviewExpiryPastInt64(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, devnet.Config{}, nil, WithApprove(ApproveUnlimited))
	accepted := e.open(t, 1000, time.Hour) // and the payer's unlimited approval
	_, err := e.payeeE.Channel(ctx, accepted.ID)
	require.NoError(t, err)

	past := uint64(math.MaxInt64) + 1
	open, err := e.payerE.abi.Pack("open", evmAddr(e.payee.Address()), amt(1000).Big(), past)
	require.NoError(t, err)
	_, err = e.payerC.Transact(ctx, e.escrow, open)
	requireRevert(t, err, "escrow: expiry too far", ErrExpiryTooFar, false)
	topUp, err := e.payerE.abi.Pack("topUp", [32]byte(accepted.ID), new(big.Int), uint64(math.MaxUint64))
	require.NoError(t, err)
	_, err = e.payerC.Transact(ctx, e.escrow, topUp)
	requireRevert(t, err, "escrow: expiry too far", ErrExpiryTooFar, false)

	ch, err := e.payeeE.Channel(ctx, accepted.ID)
	require.NoError(t, err, "the payee still reads the channel it accepted")
	assert.Equal(t, accepted.Expiry, ch.Expiry)
	got, err := e.payeeE.Claim(ctx, e.voucher(t, accepted.ID, 300))
	require.NoError(t, err)
	assert.Equal(t, amt(300), got.Paid)

	// tron.Escrow refuses before anything is signed.
	fresh := newEnv(t, devnet.Config{}, nil)
	before := fresh.node.TRXBalance(fresh.payerKey.Address())
	far := fresh.node.Now().Add(MaxChannelLifetime + time.Hour)
	_, err = fresh.payerE.Open(ctx, fresh.payee.Address(), amt(1000), far)
	require.ErrorIs(t, err, ErrExpiryTooFar)
	_, err = fresh.payerE.TopUp(ctx, accepted.ID, amt(5), far)
	require.ErrorIs(t, err, ErrExpiryTooFar)
	assert.Equal(t, before, fresh.node.TRXBalance(fresh.payerKey.Address()), "no approve paid for")
}
