package peer

import (
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
		reqq     int   // the queue depth the peer advertised
		want     int
	}{
		{"new connection", 0, 0, 0, 0, minPipeline},
		{"slow start grows by one a block", 0, 100, 0, 0, minPipeline + 100},
		{"slow start stops at the limit", 1, 10_000, 0, 0, limit},
		{"slow start ignores a partial first second", 1, 100, rate(10), 0, minPipeline + 100},
		{"a partial second above the slow start counts", 1, 10, rate(100), 0, 200},
		{"after two ticks the rate sets it", 2, 10_000, rate(100), 0, 200},
		{"a slow peer falls back to the floor", 2, 10_000, rate(3), 0, minPipeline},
		{"a fast peer is capped", 5, 0, rate(1000), 0, limit},
		{"a peer's reqq caps the slow start", 1, 10_000, 0, 250, 250},
		{"a peer's reqq caps the rate", 5, 0, rate(1000), 300, 300},
		{"a reqq under the floor wins", 0, 0, 0, 16, 16},
		{"a reqq above our limit leaves it", 5, 0, rate(1000), 2000, limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ls loopPeer
			for range tc.received {
				ls.received()
			}
			ls.ticks, ls.lastSecondDown, ls.reqq = tc.ticks, tc.lastSec, tc.reqq
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

func TestParseReqq(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handshake string
		want      int
	}{
		{"absent", "d1:md11:ut_metadatai3eee", 0},
		{"a depth", "d4:reqqi250ee", 250},
		{"one", "d4:reqqi1ee", 1},
		{"zero", "d4:reqqi0ee", 0},
		{"negative", "d4:reqqi-5ee", 0},
		{"huge is bounded", "d4:reqqi99999999999999ee", maxReqq},
		{"a string", "d4:reqq3:500e", 0},
		{"a list", "d4:reqqli1eee", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw map[string]bencode.Bytes
			require.NoError(t, bencode.Unmarshal([]byte(tc.handshake), &raw))
			assert.Equal(t, tc.want, parseReqq(raw))
		})
	}
}
