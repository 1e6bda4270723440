package tron

import (
	"errors"
	"fmt"
	"time"
)

// MaxChannelLifetime is the longest a channel may run: BttSpeedEscrow's
// open and topUp refuse an expiry more than MAX_LIFETIME (365 days) after
// the block's time with "escrow: expiry too far" (ErrExpiryTooFar), and
// Escrow.Open and TopUp refuse one before they approve anything.
const MaxChannelLifetime = 365 * 24 * time.Hour

// MaxChainTime is the latest time the client reads from the chain
// (9999-12-31T23:59:59Z). The contract stores times as uint64 seconds; an
// escrow built before the expiry cap (or any contract answering channels())
// may hold one past what time.Time takes: it reads as MaxChainTime — later
// than any deadline a client acts on — rather than as an error, so no
// payer can make a channel unreadable.
var MaxChainTime = time.Unix(253402300799, 0).UTC()

// ErrExpiryTooFar: an expiry more than MaxChannelLifetime after the
// chain's time.
var ErrExpiryTooFar = errors.New("tron: expiry too far in the future")

// chainTime converts the contract's uint64 seconds to a time, reading one
// past MaxChainTime as MaxChainTime.
func chainTime(secs uint64) time.Time {
	if secs > uint64(MaxChainTime.Unix()) {
		return MaxChainTime
	}
	return time.Unix(int64(secs), 0).UTC()
}

// checkLifetime refuses an expiry the contract would refuse as too far:
// more than MaxChannelLifetime after the chain's time now. The block that
// takes the call is later than now, so an expiry at the cap passes there.
func checkLifetime(expiry, now time.Time) error {
	if limit := now.Add(MaxChannelLifetime); expiry.After(limit) {
		return fmt.Errorf("%w: expiry %s is more than %s after the chain's time %s; choose one by %s",
			ErrExpiryTooFar, expiry.UTC().Format(time.RFC3339), MaxChannelLifetime, now.UTC().Format(time.RFC3339), limit.UTC().Format(time.RFC3339))
	}
	return nil
}
