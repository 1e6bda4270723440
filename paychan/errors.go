package paychan

import (
	"errors"
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
)

// Errors of voucher verification, the ledgers and escrows. Check them with
// errors.Is; every error that wraps one says what was wrong.
var (
	ErrBadSignature     = errors.New("paychan: bad voucher signature")
	ErrNotIncreasing    = errors.New("paychan: voucher amount not above the last one")
	ErrOverDeposit      = errors.New("paychan: voucher amount over the channel's deposit")
	ErrWrongChannel     = errors.New("paychan: voucher for another channel")
	ErrWrongChain       = errors.New("paychan: voucher for another chain")
	ErrWrongEscrow      = errors.New("paychan: voucher for another escrow contract")
	ErrWrongPayee       = errors.New("paychan: channel pays someone else")
	ErrExpired          = errors.New("paychan: channel expired or too close to expiry")
	ErrUnknownChannel   = errors.New("paychan: unknown channel")
	ErrChannelClosed    = errors.New("paychan: channel closed")
	ErrChainUnavailable = errors.New("paychan: chain unavailable")
	ErrMalformed        = errors.New("paychan: malformed voucher encoding")
	ErrAlreadyPaid      = errors.New("paychan: piece already paid for")
)

// ErrChannelClosing reports a voucher, or a channel announced again, on a
// channel the payee has begun to close (its deadline is near, or it is
// shutting down): it takes nothing more on it, and the payer should open
// a new channel. Distinct from ErrChannelClosed, which is the chain's
// word.
var ErrChannelClosing = errors.New("paychan: channel being closed by the payee; open a new one")

// ErrDepositTooSmall reports a channel whose deposit is below what the
// payee takes (PayeeConfig.MinDeposit): the payer should open one with a
// larger deposit.
var ErrDepositTooSmall = errors.New("paychan: channel deposit below the payee's minimum")

// ErrTokenRefused reports a redemption the chain refused because the
// token would not make a transfer the escrow made (a blacklist, a pause,
// a receiver's hook). On Close it may be the refund to the payer that was
// refused: Payee.Redeem then claims instead, which pays the payee alone.
// tron.ErrTokenTransfer wraps it.
var ErrTokenRefused = errors.New("paychan: the token refused a transfer")

// InsufficientFundsError reports a payment the channel or the budget cannot
// cover; Shortfall is how much is missing.
type InsufficientFundsError struct {
	Shortfall btt.Amount
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("paychan: insufficient funds: %s base units short", e.Shortfall)
}

// Is makes errors.Is(err, ErrOverDeposit) true for an insufficient-funds
// error: both mean the deposit cannot cover the amount.
func (e *InsufficientFundsError) Is(target error) bool { return target == ErrOverDeposit }
