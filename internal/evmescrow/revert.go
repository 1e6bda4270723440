package evmescrow

import (
	"fmt"
	"strings"

	"github.com/bttspeed/bttspeed/paychan"
)

// Kinds are a chain package's own sentinels for the escrow's and the test
// token's reverts that paychan has no error for. Every field must be set.
type Kinds struct {
	NotPayer, NotOwner, NotExpired                 error
	ExpiryShortened, ExpiryTooFar, ChallengePeriod error
	InvalidArgument, TokenTransfer                 error
	NothingToWithdraw, InsufficientToken           error
}

// Revert is what a revert reason means: the error callers test for, and
// what to do about it.
type Revert struct {
	Kind error
	Hint string
}

// Reverts maps revert reasons to their meaning.
type Reverts map[string]Revert

// NewReverts maps every revert reason of BttSpeedEscrow and the test
// token to paychan's errors or k's, with a hint each. hints replaces the
// hint of the reasons it names (a chain names its own API there).
func NewReverts(k Kinds, hints map[string]string) Reverts {
	r := Reverts{
		"escrow: unknown channel":        {paychan.ErrUnknownChannel, "check the channel id and the escrow address"},
		"escrow: channel closed":         {paychan.ErrChannelClosed, "the channel is settled; open a new one"},
		"escrow: channel not open":       {paychan.ErrChannelClosed, "the channel is closing or closed; open a new one"},
		"escrow: not payer":              {k.NotPayer, "send it from the payer's key"},
		"escrow: not payee":              {paychan.ErrWrongPayee, "only the channel's payee may redeem; send it from the payee's key"},
		"escrow: zero deposit":           {k.InvalidArgument, "deposit a positive amount"},
		"escrow: bad payee":              {k.InvalidArgument, "the payee must be set and differ from the payer"},
		"escrow: expiry in the past":     {paychan.ErrExpired, "choose an expiry after the chain's current time"},
		"escrow: expiry may only extend": {k.ExpiryShortened, "pass an expiry at or after the channel's current one"},
		"escrow: bad challenge period":   {k.ChallengePeriod, "deploy with a challenge period from 1 minute to 30 days"},
		"escrow: expiry too far":         {k.ExpiryTooFar, "pass an expiry at most 365 days after the chain's time"},
		"escrow: redeem window over":     {paychan.ErrExpired, "the channel expired or its challenge window ended; the payer may reclaim it"},
		"escrow: over deposit":           {paychan.ErrOverDeposit, "the voucher is above the deposit; redeem a voucher within it or have the payer top up"},
		"escrow: not increasing":         {paychan.ErrNotIncreasing, "this voucher is already redeemed; redeem a higher one"},
		"escrow: bad signature":          {paychan.ErrBadSignature, "the voucher is not signed by the channel's payer for this chain, escrow and digest scheme"},
		"escrow: not expired":            {k.NotExpired, "wait until the expiry or the end of the challenge window"},
		"escrow: token transfer failed":  {k.TokenTransfer, "check the token balance and the allowance given to the escrow"},
		"escrow: nothing to withdraw":    {k.NothingToWithdraw, "the escrow holds no refund for this account"},
		"token: insufficient balance":    {k.InsufficientToken, "get more tokens or send less"},
		"token: insufficient allowance":  {k.InsufficientToken, "approve the spender for at least the amount"},
		"token: zero address":            {k.InvalidArgument, "pass a non-zero address"},
		"token: not owner":               {k.NotOwner, "only the token's deployer may mint"},
	}
	for reason, h := range hints {
		if v, ok := r[reason]; ok {
			v.Hint = h
			r[reason] = v
		}
	}
	return r
}

// Kind is the error reason maps to, or nil for a reason not in r.
func (r Reverts) Kind(reason string) error {
	if v, ok := r[reason]; ok {
		return v.Kind
	}
	return nil
}

// Message is a revert's error text: "<chain>: contract reverted
// [transaction tx]", then the quoted reason and its hint, or "without a
// reason".
func (r Reverts) Message(chain, tx, reason string) string {
	var b strings.Builder
	b.WriteString(chain)
	b.WriteString(": contract reverted")
	if tx != "" {
		b.WriteString(" transaction ")
		b.WriteString(tx)
	}
	if reason == "" {
		b.WriteString(" without a reason")
		return b.String()
	}
	fmt.Fprintf(&b, ": %q", reason)
	if v, ok := r[reason]; ok {
		b.WriteString(": ")
		b.WriteString(v.Hint)
	}
	return b.String()
}

// Sentinel is an error with text msg that is also base (errors.Is): a
// chain's sentinel that is one of paychan's too.
func Sentinel(msg string, base error) error { return &sentinel{msg, base} }

type sentinel struct {
	msg  string
	base error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.base }
