package bttc

import (
	"fmt"
	"time"
)

// MaxChannelLifetime is the longest a channel may run (the escrow's
// MAX_LIFETIME).
const MaxChannelLifetime = 365 * 24 * time.Hour

// MaxChainTime is the latest time read from the chain
// (9999-12-31T23:59:59Z); a later uint64 reads as it.
var MaxChainTime = time.Unix(253402300799, 0).UTC()

func chainTime(secs uint64) time.Time {
	if secs > uint64(MaxChainTime.Unix()) {
		return MaxChainTime
	}
	return time.Unix(int64(secs), 0).UTC()
}

// checkLifetime refuses an expiry more than MaxChannelLifetime after now.
func checkLifetime(expiry, now time.Time) error {
	if limit := now.Add(MaxChannelLifetime); expiry.After(limit) {
		return fmt.Errorf("%w: expiry %s is more than %s after the chain's time %s; choose one by %s",
			ErrExpiryTooFar, expiry.UTC().Format(time.RFC3339), MaxChannelLifetime, now.UTC().Format(time.RFC3339), limit.UTC().Format(time.RFC3339))
	}
	return nil
}

// unixSeconds converts an expiry to the contract's uint64 seconds.
func unixSeconds(t time.Time) (uint64, error) {
	if t.IsZero() || t.Unix() <= 0 {
		return 0, fmt.Errorf("%w: expiry %s is not a time after 1970", ErrInvalidArgument, t)
	}
	return uint64(t.Unix()), nil
}
