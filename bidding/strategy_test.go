package bidding

import (
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func a(n uint64) btt.Amount { return btt.NewAmount(n) }

func TestMaxAffordable(t *testing.T) {
	tests := []struct {
		name string
		m    Market
		want uint64
	}{
		{"balance over remaining", Market{Remaining: 100, Balance: a(1000)}, 10},
		{"rounds down", Market{Remaining: 3, Balance: a(10)}, 3},
		{"committed is not available", Market{Remaining: 100, Balance: a(1000), Committed: a(500)}, 5},
		{"over-committed", Market{Remaining: 100, Balance: a(10), Committed: a(500)}, 0},
		{"nothing remaining", Market{Remaining: 0, Balance: a(1000)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, a(tc.want), MaxAffordable(tc.m))
		})
	}
}

func TestDefault(t *testing.T) {
	half, err := NewDefault(500)
	require.NoError(t, err)
	_, err = NewDefault(1001)
	assert.ErrorIs(t, err, ErrConfig)
	tests := []struct {
		name   string
		s      Default
		m      Market
		want   uint64
		reason string
	}{
		{"balance / remaining", Default{}, Market{Remaining: 1000, Balance: a(50_000)}, 50, ReasonRebid},
		{"spending rate 0.5", half, Market{Remaining: 1000, Balance: a(50_000)}, 25, ReasonRebid},
		{"hold within 10%", Default{}, Market{Remaining: 1000, Balance: a(50_000), Current: a(46)}, 46, ReasonHold},
		{"hold at exactly 10%", Default{}, Market{Remaining: 1000, Balance: a(55_000), Current: a(50)}, 50, ReasonHold},
		{"re-bid past 10%", Default{}, Market{Remaining: 1000, Balance: a(56_000), Current: a(50)}, 56, ReasonRebid},
		{"re-bid when the standing bid is no longer affordable", Default{}, Market{Remaining: 1000, Balance: a(48_000), Current: a(50)}, 48, ReasonRebid},
		{"stop at zero remaining", Default{}, Market{Remaining: 0, Balance: a(50_000), Current: a(50)}, 0, ReasonDone},
		{"broke", Default{}, Market{Remaining: 1000, Balance: a(999)}, 0, ReasonBroke},
		{"committed excluded", Default{}, Market{Remaining: 1000, Balance: a(50_000), Committed: a(10_000)}, 40, ReasonRebid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.s.Bid(tc.m)
			assert.Equal(t, a(tc.want), b.Price)
			assert.Equal(t, tc.reason, b.Reason)
		})
	}
}

func TestFixed(t *testing.T) {
	tests := []struct {
		name   string
		m      Market
		want   uint64
		reason string
	}{
		{"affordable", Market{Remaining: 100, Balance: a(10_000)}, 7, ReasonFixed},
		{"capped by budget", Market{Remaining: 100, Balance: a(500)}, 5, ReasonBudgetCap},
		{"done", Market{Remaining: 0, Balance: a(500)}, 0, ReasonDone},
		{"broke", Market{Remaining: 100, Balance: a(50)}, 0, ReasonBroke},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Fixed{Price: a(7)}.Bid(tc.m)
			assert.Equal(t, a(tc.want), b.Price)
			assert.Equal(t, tc.reason, b.Reason)
			assert.Equal(t, tc.want == 0, b.None())
		})
	}
}

func TestAdaptive(t *testing.T) {
	rich := a(1 << 40)
	tests := []struct {
		name   string
		s      Adaptive
		m      Market
		want   uint64
		reason string
	}{
		{"opens at the reserve", Adaptive{}, Market{Remaining: 100, Balance: rich, Reserve: a(4)}, 4, ReasonStart},
		{"opens at Start", Adaptive{Start: a(9)}, Market{Remaining: 100, Balance: rich, Reserve: a(4)}, 9, ReasonStart},
		{"opens at the price to beat", Adaptive{Start: a(2)}, Market{Remaining: 100, Balance: rich, PriceToBeat: a(6)}, 6, ReasonStart},
		{"opens at 1 with no reserve", Adaptive{}, Market{Remaining: 100, Balance: rich}, 1, ReasonStart},
		{"raises 25% after a loss", Adaptive{}, Market{Remaining: 100, Balance: rich, Current: a(100), Losses: 1}, 125, ReasonRaise},
		{"raises at least to the price to beat", Adaptive{}, Market{Remaining: 100, Balance: rich, Current: a(100), Losses: 1, PriceToBeat: a(200)}, 200, ReasonRaise},
		{"raises by one when 25% rounds to nothing", Adaptive{}, Market{Remaining: 100, Balance: rich, Current: a(2), Losses: 1}, 3, ReasonRaise},
		{"keeps after one win", Adaptive{}, Market{Remaining: 100, Balance: rich, Current: a(100), Won: true, Wins: 1}, 100, ReasonKeep},
		{"lowers after 3 wins", Adaptive{}, Market{Remaining: 100, Balance: rich, Current: a(100), Won: true, Wins: 3}, 90, ReasonLower},
		{"never lowers below the reserve", Adaptive{}, Market{Remaining: 100, Balance: rich, Current: a(100), Won: true, Wins: 3, Reserve: a(95)}, 95, ReasonLower},
		{"capped by Max", Adaptive{Max: a(110)}, Market{Remaining: 100, Balance: rich, Current: a(100), Losses: 1}, 110, ReasonRaise},
		{"capped by budget", Adaptive{}, Market{Remaining: 100, Balance: a(11_000), Current: a(100), Losses: 1}, 110, ReasonBudgetCap},
		{"done", Adaptive{}, Market{Remaining: 0, Balance: rich, Current: a(100)}, 0, ReasonDone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.s.Bid(tc.m)
			assert.Equal(t, a(tc.want), b.Price)
			assert.Equal(t, tc.reason, b.Reason)
		})
	}
}

func TestPaced(t *testing.T) {
	rich := a(1 << 40)
	deadline := t0.Add(100 * time.Second)
	s := Paced{Deadline: deadline}
	tests := []struct {
		name   string
		m      Market
		want   uint64
		reason string
	}{
		{"opens at the reserve", Market{Now: t0, Remaining: 1000, Balance: rich, Reserve: a(10)}, 10, ReasonStart},
		// needs 1000 B / 100 s = 10 B/s
		{"behind: raise", Market{Now: t0, Remaining: 1000, Balance: rich, Current: a(100), Rate: 5, Won: true}, 110, ReasonBehind},
		{"lost: raise", Market{Now: t0, Remaining: 1000, Balance: rich, Current: a(100), Rate: 50, Losses: 1}, 110, ReasonBehind},
		{"ahead: lower", Market{Now: t0, Remaining: 1000, Balance: rich, Current: a(100), Rate: 50, Won: true}, 90, ReasonAhead},
		{"on schedule: keep", Market{Now: t0, Remaining: 1000, Balance: rich, Current: a(100), Rate: 12, Won: true}, 100, ReasonOnSchedule},
		{"past due: all it affords", Market{Now: deadline, Remaining: 1000, Balance: a(5000), Current: a(1)}, 5, ReasonPastDue},
		{"capped", Market{Now: t0, Remaining: 1000, Balance: a(100_000), Current: a(100), Rate: 1}, 100, ReasonBudgetCap},
		{"broke", Market{Now: t0, Remaining: 1000, Balance: a(10)}, 0, ReasonBroke},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := s.Bid(tc.m)
			assert.Equal(t, a(tc.want), b.Price)
			assert.Equal(t, tc.reason, b.Reason)
		})
	}
}

// TestNeverOverspend: for random markets, paying the bid for every byte
// still wanted fits in the uncommitted balance, for every strategy.
func TestNeverOverspend(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	strategies := []Strategy{Default{}, Default{SpendPermille: 300}, Fixed{Price: a(1000)}, Adaptive{}, Adaptive{Start: a(1 << 30)}, Paced{Deadline: t0.Add(time.Hour)}}
	for i := 0; i < 20000; i++ {
		m := Market{
			Now:          t0.Add(time.Duration(rng.IntN(7200)) * time.Second),
			Remaining:    rng.Int64N(1 << 30),
			Balance:      a(rng.Uint64N(1 << 50)),
			Committed:    a(rng.Uint64N(1 << 40)),
			Current:      a(rng.Uint64N(1 << 20)),
			Reserve:      a(rng.Uint64N(1 << 10)),
			PriceToBeat:  a(rng.Uint64N(1 << 21)),
			Won:          rng.IntN(2) == 0,
			Wins:         rng.IntN(10),
			Losses:       rng.IntN(10),
			Rate:         rng.Int64N(1 << 24),
			LastClearing: a(rng.Uint64N(1 << 20)),
		}
		for _, s := range strategies {
			b := s.Bid(m)
			cost, err := b.Price.MulUint64(uint64(max(m.Remaining, 0)))
			require.NoError(t, err)
			assert.False(t, cost.Gt(m.Balance.SubFloor(m.Committed)), "%s overspends: %+v -> %s", s.Name(), m, b.Price)
			if m.Remaining == 0 {
				assert.True(t, b.None())
			}
		}
	}
}

func TestPure(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	out, err := exec.Command("go", "list", "-deps", ".", "./simulate").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"net", "log/slog", "github.com/anacrolix/", "github.com/fbsobreira/"} {
			if dep == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) {
				t.Errorf("bidding depends on %s", dep)
			}
		}
	}
}
