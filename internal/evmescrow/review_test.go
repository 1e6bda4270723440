package evmescrow

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

// refusingLedger is a ledger whose funding fails (a short balance, a
// hostile token's approve that reverts).
type refusingLedger struct{ *ledger }

func (l refusingLedger) Fund(context.Context, btt.Address, btt.Amount) error {
	return &paychan.InsufficientFundsError{}
}

// TestReviewTopUpFunding pins TopUp's guards on money: a top-up already
// sent and not settled (owed) is not funded again (no second approve), a
// zero top-up (an expiry move) funds nothing, a failed funding sends no
// top-up, and an expiry past the lifetime cap is refused before anything
// is funded or sent.
func TestReviewTopUpFunding(t *testing.T) {
	ctx := context.Background()
	self, tok := addr(1), addr(9)
	now := time.Unix(1_800_000_000, 0).UTC()
	id := paychan.ChannelID{5}
	newLedger := func() *ledger {
		return &ledger{self: self, now: now, dom: paychan.Domain{ChainID: 7, Escrow: addr(3), Token: tok},
			channels: map[paychan.ChannelID]paychan.Channel{id: {ID: id, Payer: self, Payee: addr(2), Deposit: amt(20),
				Expiry: now.Add(2 * time.Hour), State: paychan.ChannelOpen}}}
	}
	for _, tc := range []struct {
		name   string
		change func(l *ledger)
		amount btt.Amount
		expiry time.Time
		refuse bool
		err    error
		funded bool
		sent   bool
	}{
		{"funds then sends", nil, amt(10), now.Add(3 * time.Hour), false, nil, true, true},
		{"owed: sent again, not funded again", func(l *ledger) { l.owed = true }, amt(10), now.Add(3 * time.Hour), false, nil, false, true},
		{"zero amount: nothing to fund", nil, btt.Amount{}, now.Add(3 * time.Hour), false, nil, false, true},
		{"funding refused: nothing sent", nil, amt(10), now.Add(3 * time.Hour), true, &paychan.InsufficientFundsError{}, false, false},
		{"expiry too far: nothing funded or sent", nil, amt(10), now.Add(MaxChannelLifetime + time.Second), false, errExpiryTooFar, false, false},
		{"no key", func(l *ledger) { l.self = btt.Address{} }, amt(10), now.Add(3 * time.Hour), false, errNoSigner, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLedger()
			if tc.change != nil {
				tc.change(l)
			}
			c := testCalls(l)
			if tc.refuse {
				c.Chain = refusingLedger{l}
			}
			_, err := c.TopUp(ctx, id, tc.amount, tc.expiry)
			assert.Equal(t, tc.funded, len(l.funded) == 1, "funded")
			assert.Equal(t, tc.sent, len(l.sent) == 1, "sent")
			if tc.err != nil {
				var ife *paychan.InsufficientFundsError
				if errors.As(tc.err, &ife) {
					assert.ErrorAs(t, err, &ife)
				} else {
					assert.ErrorIs(t, err, tc.err)
				}
				return
			}
			require.NoError(t, err)
		})
	}
}
