package backoff

import (
	"context"
	"fmt"
	"time"
)

// Above is the Exp whose waits are d·[1, 1+j] for the plain doubling d
// from base to ceil (d = base, 2·base, ... never above ceil): the jitter is
// added above the doubling rather than taken off, so no wait is shorter
// than the doubling's. j is clamped to [0, 1]. A ceil below base is taken
// as base.
func Above(base, ceil time.Duration, j float64) Exp {
	j = min(max(j, 0), 1)
	ceil = max(ceil, base)
	// Exp draws from [w·(1−J), w]; with w = (1+j)·d and J = j/(1+j) that
	// is [d, (1+j)·d].
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * (1 + j)) }
	return Exp{Base: scale(base), Max: scale(ceil), Jitter: j / (1 + j)}
}

// StoppedError is a Retry whose context ended while it waited to call
// again: Ctx is the context's error, Last the error of the last call.
type StoppedError struct {
	Ctx, Last error
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("%v (while retrying: %v)", e.Ctx, e.Last)
}

// Unwrap gives the context's error: errors.Is(err, context.Canceled)
// holds for a cancelled retry.
func (e *StoppedError) Unwrap() error { return e.Ctx }

// Retry calls f until it returns nil or an error retryable does not
// accept, or it has been called attempts times (at least once), waiting
// b.Next() between calls. It returns how many calls were made and the
// last call's error — or, when ctx ends during a wait, a *StoppedError.
// ctx only bounds the waits: f sees its own context.
func Retry(ctx context.Context, attempts int, b *Exp, retryable func(error) bool, f func() error) (int, error) {
	for calls := 1; ; calls++ {
		err := f()
		if err == nil || !retryable(err) || calls >= attempts {
			return calls, err
		}
		if serr := Sleep(ctx, b.Next()); serr != nil {
			return calls, &StoppedError{Ctx: serr, Last: err}
		}
	}
}
