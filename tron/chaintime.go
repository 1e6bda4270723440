package tron

import (
	"errors"
	"time"

	"github.com/bttspeed/bttspeed/internal/evmescrow"
)

// MaxChannelLifetime is the longest a channel may run: BttSpeedEscrow's
// open and topUp refuse an expiry more than MAX_LIFETIME (365 days) after
// the block's time with "escrow: expiry too far" (ErrExpiryTooFar), and
// Escrow.Open and TopUp refuse one before they approve anything.
const MaxChannelLifetime = evmescrow.MaxChannelLifetime

// MaxChainTime is the latest time the client reads from the chain
// (9999-12-31T23:59:59Z). The contract stores times as uint64 seconds; an
// escrow built before the expiry cap (or any contract answering channels())
// may hold one past what time.Time takes: it reads as MaxChainTime — later
// than any deadline a client acts on — rather than as an error, so no
// payer can make a channel unreadable.
var MaxChainTime = evmescrow.MaxChainTime()

// ErrExpiryTooFar: an expiry more than MaxChannelLifetime after the
// chain's time.
var ErrExpiryTooFar = errors.New("tron: expiry too far in the future")

// unixSeconds converts an expiry to the contract's uint64 seconds.
func unixSeconds(t time.Time) (uint64, error) { return evmescrow.UnixSeconds(t, ErrInvalidArgument) }
