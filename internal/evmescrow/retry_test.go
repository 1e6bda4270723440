package evmescrow

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/paychan"
)

func TestRetry(t *testing.T) {
	down := fmt.Errorf("%w: chain: read: refused", paychan.ErrChainUnavailable)
	answer := errors.New("chain: read: no such block")
	for _, tc := range []struct {
		name    string
		results []error // in turn; the last repeats
		calls   int
		is      error
		gaveUp  bool
	}{
		{"at once", []error{nil}, 1, nil, false},
		{"after a failure", []error{down, nil}, 2, nil, false},
		{"an answer is not retried", []error{answer}, 1, answer, false},
		{"an answer after a failure", []error{down, answer}, 2, answer, false},
		{"gives up", []error{down}, 4, paychan.ErrChainUnavailable, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			err := Retry(context.Background(), "chain", "read", 4, time.Microsecond, 10*time.Microsecond, func() error {
				r := tc.results[min(n, len(tc.results)-1)]
				n++
				return r
			})
			assert.Equal(t, tc.calls, n)
			if tc.is == nil {
				require.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.is)
			if tc.gaveUp {
				assert.Contains(t, err.Error(), "gave up after 4 attempts")
			} else {
				assert.NotContains(t, err.Error(), "gave up")
			}
		})
	}
	one := 0
	err := Retry(context.Background(), "chain", "read", 1, time.Microsecond, time.Microsecond, func() error { one++; return down })
	assert.Equal(t, 1, one)
	assert.Equal(t, down, err, "one attempt: no count in the message")
}

func TestRetryEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	down := fmt.Errorf("%w: refused", paychan.ErrChainUnavailable)
	start := time.Now()
	err := Retry(ctx, "chain", "read", 5, time.Hour, time.Hour, func() error { cancel(); return down })
	assert.Less(t, time.Since(start), time.Minute)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, paychan.ErrChainUnavailable, "the context's end, not the node's")
	assert.Contains(t, err.Error(), "chain: read: context canceled (while retrying: ")
}
