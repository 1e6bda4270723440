package backoff

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAbove(t *testing.T) {
	for _, tc := range []struct {
		name      string
		base, max time.Duration
		j         float64
		doubling  []time.Duration
	}{
		{"a fifth above", 200 * time.Millisecond, 5 * time.Second, 0.2, []time.Duration{200, 400, 800, 1600, 3200, 5000, 5000}},
		{"none", 100 * time.Millisecond, time.Second, 0, []time.Duration{100, 200, 400, 800, 1000}},
		{"max below base", time.Second, 100 * time.Millisecond, 0.2, []time.Duration{1000, 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 50 {
				e := Above(tc.base, tc.max, tc.j)
				for i, d := range tc.doubling {
					d *= time.Millisecond
					w := e.Next()
					assert.GreaterOrEqual(t, w, d, "wait %d", i)
					assert.LessOrEqual(t, w, time.Duration(float64(d)*(1+tc.j))+1, "wait %d", i)
				}
			}
		})
	}
}

func TestRetry(t *testing.T) {
	errAgain, errFinal := errors.New("again"), errors.New("final")
	retryable := func(err error) bool { return errors.Is(err, errAgain) }
	for _, tc := range []struct {
		name     string
		attempts int
		results  []error // f's answers in turn; the last repeats
		calls    int
		want     error
	}{
		{"first call succeeds", 5, []error{nil}, 1, nil},
		{"succeeds on the third", 5, []error{errAgain, errAgain, nil}, 3, nil},
		{"gives up after the attempts", 3, []error{errAgain}, 3, errAgain},
		{"a final error ends it", 5, []error{errAgain, errFinal}, 2, errFinal},
		{"zero attempts is one call", 0, []error{errAgain}, 1, errAgain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Exp{Base: time.Microsecond, Max: time.Microsecond}
			n := 0
			calls, err := Retry(context.Background(), tc.attempts, &b, retryable, func() error {
				r := tc.results[min(n, len(tc.results)-1)]
				n++
				return r
			})
			assert.Equal(t, tc.calls, calls)
			assert.Equal(t, tc.calls, n)
			assert.Equal(t, tc.want, err)
		})
	}
}

func TestRetryStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	errAgain := errors.New("again")
	b := Exp{Base: time.Hour}
	calls, err := Retry(ctx, 5, &b, func(error) bool { return true }, func() error {
		cancel()
		return errAgain
	})
	assert.Equal(t, 1, calls)
	var se *StoppedError
	require.ErrorAs(t, err, &se)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, errAgain, se.Last)
	assert.Contains(t, err.Error(), "while retrying: again")
}
