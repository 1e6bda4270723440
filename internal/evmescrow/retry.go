package evmescrow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/internal/backoff"
	"github.com/bttspeed/bttspeed/paychan"
)

// RetryJitter is the most a client's retry wait adds to the doubling: a
// fifth of it.
const RetryJitter = 0.2

// Retry calls f until it succeeds, fails with an error that does not wrap
// paychan.ErrChainUnavailable (an answer, not a node out of reach), ctx
// ends, or attempts calls were made. The waits double from base to ceil,
// each with up to RetryJitter of it added (backoff.Above). A retry that
// gave up says after how many attempts; one whose ctx ended while it
// waited returns ctx's error, "<chain>: <op>:" before it and f's last
// error after.
func Retry(ctx context.Context, chain, op string, attempts int, base, ceil time.Duration, f func() error) error {
	b := backoff.Above(base, ceil, RetryJitter)
	calls, err := backoff.Retry(ctx, attempts, &b, func(err error) bool { return errors.Is(err, paychan.ErrChainUnavailable) }, f)
	var stopped *backoff.StoppedError
	switch {
	case errors.As(err, &stopped):
		return fmt.Errorf("%s: %s: %w (while retrying: %v)", chain, op, stopped.Ctx, stopped.Last)
	case calls > 1 && errors.Is(err, paychan.ErrChainUnavailable):
		return fmt.Errorf("%w (gave up after %d attempts)", err, calls)
	}
	return err
}

// The clients' retry defaults.
const (
	DefaultRetryAttempts = 5
	DefaultRetryBase     = 200 * time.Millisecond
	DefaultRetryMax      = 5 * time.Second
)

// RetryDefaults fills in the defaults for attempts, base and ceil at zero
// or below, and takes a ceil below base as base.
func RetryDefaults(attempts *int, base, ceil *time.Duration) {
	if *attempts <= 0 {
		*attempts = DefaultRetryAttempts
	}
	if *base <= 0 {
		*base = DefaultRetryBase
	}
	if *ceil <= 0 {
		*ceil = DefaultRetryMax
	}
	*ceil = max(*ceil, *base)
}
