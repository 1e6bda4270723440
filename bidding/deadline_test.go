package bidding

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeadline(t *testing.T) {
	d, err := NewDeadline(20*time.Second, 60*time.Second)
	require.NoError(t, err)
	// 1 MB/s playback; 1 GB left; a balance of 10^12: affords 1000/byte.
	base := Market{Now: t0, Remaining: 1e9, Balance: a(1e12), Reserve: a(10), Stream: Stream{Rate: 1e6}}
	with := func(f func(m *Market)) Market { m := base; f(&m); return m }
	tests := []struct {
		name   string
		m      Market
		price  uint64
		reason string
	}{
		{"done", with(func(m *Market) { m.Remaining = 0 }), 0, ReasonDone},
		{"no stream: as Default", with(func(m *Market) { m.Stream = Stream{} }), 1000, ReasonRebid},
		{"full buffer: no bid", with(func(m *Market) { m.Stream.Buffered = 61e6; m.Current = a(50) }), 0, ReasonBuffered},
		{"comfortable, no bid standing: none", with(func(m *Market) { m.Stream.Buffered = 30e6 }), 0, ReasonBuffered},
		{"comfortable: lower", with(func(m *Market) { m.Stream.Buffered = 30e6; m.Current = a(50) }), 40, ReasonEasing},
		{"comfortable, under the reserve: withdraw", with(func(m *Market) { m.Stream.Buffered = 30e6; m.Current = a(12) }), 0, ReasonBuffered},
		{"low: open above the last clearing", with(func(m *Market) { m.Stream.Buffered = 10e6; m.LastClearing = a(30) }), 31, ReasonStart},
		{"low: open at the price to beat", with(func(m *Market) { m.Stream.Buffered = 10e6; m.PriceToBeat = a(70) }), 70, ReasonStart},
		{"low, lost: raise", with(func(m *Market) { m.Stream.Buffered = 10e6; m.Current = a(40); m.Losses = 1 }), 60, ReasonLowBuf},
		{"low, lost: above the last clearing", with(func(m *Market) { m.Stream.Buffered = 10e6; m.Current = a(40); m.LastClearing = a(80) }), 81, ReasonLowBuf},
		{"low, lost: at least the price to beat", with(func(m *Market) { m.Stream.Buffered = 10e6; m.Current = a(40); m.PriceToBeat = a(90) }), 90, ReasonLowBuf},
		{"low, won: keep", with(func(m *Market) { m.Stream.Buffered = 10e6; m.Current = a(40); m.Won = true; m.Wins = 2 }), 40, ReasonHoldSlot},
		{"starving: all it affords", with(func(m *Market) { m.Stream.Buffered = 4e6; m.Current = a(40) }), 1000, ReasonStarving},
		{"stalled: all it affords", with(func(m *Market) {}), 1000, ReasonStarving},
		{"raise capped by the budget", with(func(m *Market) { m.Stream.Buffered = 10e6; m.Current = a(900) }), 1000, ReasonBudgetCap},
		{"broke", with(func(m *Market) { m.Balance = a(0) }), 0, ReasonBroke},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := d.Bid(tc.m)
			assert.Equal(t, a(tc.price), b.Price)
			assert.Equal(t, tc.reason, b.Reason)
		})
	}
}

func TestNewDeadline(t *testing.T) {
	_, err := NewDeadline(time.Minute, time.Second)
	assert.ErrorIs(t, err, ErrConfig)
	_, err = NewDeadline(-time.Second, time.Minute)
	assert.ErrorIs(t, err, ErrConfig)
	d, err := NewDeadline(0, 0)
	require.NoError(t, err)
	low, high := d.levels()
	assert.Equal(t, 30*time.Second, low)
	assert.Equal(t, 90*time.Second, high)
}

// TestDeadlineNeverOverspends: whatever the market, the bid is within what
// the budget affords, and deterministic.
func TestDeadlineNeverOverspends(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	d := Deadline{}
	for k := 0; k < 5000; k++ {
		m := Market{
			Now: t0, Remaining: rng.Int64N(1e9), Balance: a(rng.Uint64N(1e12)), Committed: a(rng.Uint64N(1e10)),
			Current: a(rng.Uint64N(2000)), Reserve: a(rng.Uint64N(100)), LastClearing: a(rng.Uint64N(500)),
			PriceToBeat: a(rng.Uint64N(500)), Won: rng.IntN(2) == 0, Losses: rng.IntN(3),
			Stream: Stream{Buffered: rng.Int64N(1e8), Rate: rng.Int64N(3e6)},
		}
		b := d.Bid(m)
		assert.False(t, b.Price.Gt(MaxAffordable(m)), "%+v → %v", m, b)
		assert.Equal(t, b, d.Bid(m))
	}
}

func TestStreamBufferTime(t *testing.T) {
	assert.Equal(t, 2500*time.Millisecond, Stream{Buffered: 5e6, Rate: 2e6}.BufferTime())
	assert.Zero(t, Stream{Buffered: 5e6}.BufferTime())
	assert.Zero(t, Stream{Rate: 5}.BufferTime())
	assert.Equal(t, time.Duration(1<<62), Stream{Buffered: 1 << 62, Rate: 1}.BufferTime())
}
