package peer

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bttspeed/bttspeed/piece"
)

func TestPipeline(t *testing.T) {
	const limit = 500
	rate := func(blocks int) int64 { return int64(blocks) * piece.BlockSize }
	for _, tc := range []struct {
		name     string
		ticks    int
		received int   // blocks received so far, each counted by received()
		lastSec  int64 // bytes in the last second measured
		want     int
	}{
		{"new connection", 0, 0, 0, minPipeline},
		{"slow start grows by one a block", 0, 100, 0, minPipeline + 100},
		{"slow start stops at the limit", 1, 10_000, 0, limit},
		{"slow start ignores a partial first second", 1, 100, rate(10), minPipeline + 100},
		{"a partial second above the slow start counts", 1, 10, rate(100), 200},
		{"after two ticks the rate sets it", 2, 10_000, rate(100), 200},
		{"a slow peer falls back to the floor", 2, 10_000, rate(3), minPipeline},
		{"a fast peer is capped", 5, 0, rate(1000), limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ls loopPeer
			for range tc.received {
				ls.received()
			}
			ls.ticks, ls.lastSecondDown = tc.ticks, tc.lastSec
			assert.Equal(t, tc.want, ls.pipeline(limit))
		})
	}
}

func TestPipelineSlowStartEndsAtSecondTick(t *testing.T) {
	var ls loopPeer
	ls.received()
	ls.ticks = 2
	for range 50 {
		ls.received()
	}
	assert.Equal(t, minPipeline+1, ls.slowStart, "blocks after the second tick do not grow the slow start")
	assert.Equal(t, minPipeline, ls.pipeline(500))
}
