// Package backoff is the project's one retry delay: a capped exponential
// backoff with optional jitter, and a sleep that ends with its context.
// The retry loops themselves stay at their call sites, which differ in
// what they do between attempts (read a channel again, log, count).
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Exp is a capped exponential backoff: the first Next is Base, each later
// one twice the one before, never above Max. With Jitter j in (0, 1],
// each wait w is drawn uniformly from [w·(1−j), w], so that many clients
// that failed together do not retry together. The zero value of the
// running state starts at Base; Reset starts over.
type Exp struct {
	Base, Max time.Duration
	Jitter    float64
	cur       time.Duration
}

// Next returns the next wait.
func (e *Exp) Next() time.Duration {
	switch {
	case e.cur == 0:
		e.cur = e.Base
	default:
		e.cur = 2 * e.cur
	}
	if e.Max > 0 && e.cur > e.Max {
		e.cur = e.Max
	}
	w := e.cur
	if j := min(max(e.Jitter, 0), 1); j > 0 && w > 0 {
		span := time.Duration(float64(w) * j)
		w -= rand.N(span + 1)
	}
	return w
}

// Reset makes the next wait Base again.
func (e *Exp) Reset() { e.cur = 0 }

// Sleep waits d, or until ctx ends: then it returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
