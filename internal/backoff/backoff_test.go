package backoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestExp(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Exp
		want []time.Duration
	}{
		{"doubles to the cap", Exp{Base: 100 * time.Millisecond, Max: time.Second}, []time.Duration{100, 200, 400, 800, 1000, 1000}},
		{"no cap", Exp{Base: time.Second}, []time.Duration{1000, 2000, 4000, 8000}},
		{"base above the cap", Exp{Base: 5 * time.Second, Max: time.Second}, []time.Duration{1000, 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, w := range tc.want {
				assert.Equal(t, w*time.Millisecond, tc.e.Next(), "wait %d", i)
			}
			tc.e.Reset()
			assert.Equal(t, tc.want[0]*time.Millisecond, tc.e.Next(), "after Reset")
		})
	}
}

func TestExpJitter(t *testing.T) {
	e := Exp{Base: time.Second, Max: 8 * time.Second, Jitter: 0.5}
	seen := map[time.Duration]bool{}
	for i := range 200 {
		if i%4 == 0 {
			e.Reset()
		}
		w := e.Next()
		full := time.Second << (i % 4)
		assert.LessOrEqual(t, w, full)
		assert.GreaterOrEqual(t, w, full/2)
		seen[w] = true
	}
	assert.Greater(t, len(seen), 10, "the waits differ")
}

func TestSleep(t *testing.T) {
	assert.NoError(t, Sleep(context.Background(), time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	assert.ErrorIs(t, Sleep(ctx, time.Hour), context.Canceled)
	assert.Less(t, time.Since(start), time.Second)
}
