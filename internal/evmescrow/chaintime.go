package evmescrow

import (
	"fmt"
	"time"
)

// MaxChannelLifetime is the longest a channel may run: BttSpeedEscrow's
// open and topUp refuse an expiry more than MAX_LIFETIME (365 days) after
// the block's time with "escrow: expiry too far".
const MaxChannelLifetime = 365 * 24 * time.Hour

// maxChainSecs is 9999-12-31T23:59:59Z, the latest time read from the
// chain.
const maxChainSecs = 253402300799

// MaxChainTime is the latest time read from the chain. The contract
// stores times as uint64 seconds; an escrow built before the expiry cap
// (or any contract answering channels()) may hold one past what
// time.Time takes: it reads as MaxChainTime — later than any deadline a
// client acts on — rather than as an error, so no payer can make a
// channel unreadable.
func MaxChainTime() time.Time { return time.Unix(maxChainSecs, 0).UTC() }

// ChainTime converts the contract's uint64 seconds to a time, reading one
// past MaxChainTime as MaxChainTime.
func ChainTime(secs uint64) time.Time {
	if secs > maxChainSecs {
		return MaxChainTime()
	}
	return time.Unix(int64(secs), 0).UTC()
}

// CheckLifetime refuses, with an error wrapping tooFar, an expiry the
// contract would refuse as too far: more than MaxChannelLifetime after
// the chain's time now. The block that takes the call is later than now,
// so an expiry at the cap passes there.
func CheckLifetime(expiry, now time.Time, tooFar error) error {
	if limit := now.Add(MaxChannelLifetime); expiry.After(limit) {
		return fmt.Errorf("%w: expiry %s is more than %s after the chain's time %s; choose one by %s",
			tooFar, expiry.UTC().Format(time.RFC3339), MaxChannelLifetime, now.UTC().Format(time.RFC3339), limit.UTC().Format(time.RFC3339))
	}
	return nil
}

// UnixSeconds converts an expiry to the contract's uint64 seconds; a time
// not after 1970 gives an error wrapping invalid.
func UnixSeconds(t time.Time, invalid error) (uint64, error) {
	if t.IsZero() || t.Unix() <= 0 {
		return 0, fmt.Errorf("%w: expiry %s is not a time after 1970", invalid, t)
	}
	return uint64(t.Unix()), nil
}
