package simulate

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mb = 1_000_000

func bidDriven(reserve uint64) func(*rand.Rand) (choker.Policy, error) {
	return func(rng *rand.Rand) (choker.Policy, error) {
		return choker.NewBidDriven(choker.BidDrivenConfig{Reserve: btt.NewAmount(reserve), Rand: rng})
	}
}

func TestValidation(t *testing.T) {
	ok := Scenario{Size: mb, Seeders: []Seeder{{Upload: mb}}, Leechers: []Leecher{{Download: mb}}}
	tests := []struct {
		name string
		mod  func(*Scenario)
	}{
		{"no size", func(s *Scenario) { s.Size = 0 }},
		{"no seeders", func(s *Scenario) { s.Seeders = nil }},
		{"zero upload", func(s *Scenario) { s.Seeders[0].Upload = 0 }},
		{"zero download", func(s *Scenario) { s.Leechers[0].Download = 0 }},
		{"negative arrival", func(s *Scenario) { s.Leechers[0].Arrive = -time.Second }},
		{"rechoke not a multiple of tick", func(s *Scenario) { s.Tick = 3 * time.Second }},
		{"negative duration", func(s *Scenario) { s.Duration = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := ok
			sc.Seeders = append([]Seeder(nil), ok.Seeders...)
			sc.Leechers = append([]Leecher(nil), ok.Leechers...)
			tc.mod(&sc)
			_, err := Run(sc)
			assert.ErrorIs(t, err, ErrScenario)
		})
	}
	_, err := Run(Scenario{Size: mb, Seeders: []Seeder{{Upload: mb, Policy: func(*rand.Rand) (choker.Policy, error) {
		return choker.NewBidDriven(choker.BidDrivenConfig{Slots: 1})
	}}}})
	assert.ErrorIs(t, err, choker.ErrConfig)
	_, err = Run(ok)
	assert.NoError(t, err)
}

// contested is a swarm with more bidders than paid slots: 10 leechers of
// equal capacity bidding fixed prices 10, 20, …, 100 to one seeder with 4
// paid slots and 1 free.
func contested(seed uint64) Scenario {
	sc := Scenario{
		Seed:    seed,
		Size:    50 * mb,
		Seeders: []Seeder{{Name: "seed", Upload: 10 * mb, Policy: bidDriven(5)}},
	}
	for i := 1; i <= 10; i++ {
		sc.Leechers = append(sc.Leechers, Leecher{
			Name:     fmt.Sprintf("bid%03d", 10*i),
			Download: 5 * mb,
			Budget:   btt.BTT(1000),
			Strategy: bidding.Fixed{Price: btt.NewAmount(uint64(10 * i))},
		})
	}
	return sc
}

func TestHigherBiddersFinishSooner(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		r, err := Run(contested(seed))
		require.NoError(t, err)
		var top, bottom time.Duration
		for i, l := range r.Leechers {
			require.True(t, l.Done, "%s completes", l.Name)
			switch {
			case i >= 7:
				top += l.CompletionTime()
			case i < 3:
				bottom += l.CompletionTime()
			}
		}
		assert.Less(t, top, bottom, "seed %d: the three highest bidders finish sooner than the three lowest", seed)
		// The lowest bidder may draw the free slot and tie; it never
		// beats the highest.
		hi, _ := r.Leecher("bid100")
		lo, _ := r.Leecher("bid010")
		assert.LessOrEqual(t, hi.CompletionTime(), lo.CompletionTime())
		for i, l := range r.Leechers {
			assert.False(t, l.PricePerByte.Gt(btt.NewAmount(uint64(10*(i+1)))), "%s paid above its bid", l.Name)
		}
	}
}

func TestAuctionRevenueAtLeastPostedPrice(t *testing.T) {
	const price = 20
	for seed := uint64(1); seed <= 5; seed++ {
		auction, err := Run(contested(seed))
		require.NoError(t, err)
		posted := contested(seed)
		posted.Seeders[0].Policy = func(rng *rand.Rand) (choker.Policy, error) {
			return NewPostedPrice(btt.NewAmount(price), 5, rng)
		}
		fixed, err := Run(posted)
		require.NoError(t, err)
		assert.False(t, auction.Revenue().Lt(fixed.Revenue()), "seed %d: auction %s < posted %s", seed, auction.Revenue(), fixed.Revenue())
		assert.True(t, auction.Revenue().Gt(btt.Zero))
	}
}

func TestLegacyPeersCompleteThroughFreeSlots(t *testing.T) {
	sc := Scenario{
		Seed:    3,
		Size:    20 * mb,
		Seeders: []Seeder{{Name: "seed", Upload: 10 * mb, Policy: bidDriven(1)}},
	}
	for i := 0; i < 6; i++ {
		sc.Leechers = append(sc.Leechers, Leecher{Name: fmt.Sprintf("payer%d", i), Download: 4 * mb, Budget: btt.BTT(10), Strategy: bidding.Default{}})
	}
	for i := 0; i < 3; i++ {
		sc.Leechers = append(sc.Leechers, Leecher{Name: fmt.Sprintf("legacy%d", i), Download: 4 * mb})
	}
	r, err := Run(sc)
	require.NoError(t, err)
	for _, l := range r.Leechers {
		assert.True(t, l.Done, "%s completes", l.Name)
		if l.Strategy == "legacy" {
			assert.True(t, l.Spent.IsZero())
			assert.Zero(t, l.PaidBytes)
			assert.Equal(t, sc.Size, l.Bytes)
		}
	}
	assert.True(t, r.Revenue().Gt(btt.Zero))
}

func TestNeverOverspends(t *testing.T) {
	strategies := []bidding.Strategy{
		bidding.Default{}, bidding.Default{SpendPermille: 500}, bidding.Fixed{Price: btt.NewAmount(1 << 20)},
		bidding.Adaptive{}, bidding.Adaptive{Start: btt.NewAmount(1 << 16)},
		bidding.Paced{Deadline: time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC)},
	}
	for seed := uint64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		sc := Scenario{Seed: seed, Size: int64(5+rng.IntN(20)) * mb, Duration: 20 * time.Minute}
		for s := 0; s < 1+rng.IntN(3); s++ {
			reserve := uint64(rng.IntN(50))
			sc.Seeders = append(sc.Seeders, Seeder{Upload: int64(1+rng.IntN(10)) * mb, Policy: bidDriven(reserve)})
		}
		for l := 0; l < 5+rng.IntN(20); l++ {
			lc := Leecher{Download: int64(1+rng.IntN(5)) * mb, Budget: btt.NewAmount(uint64(rng.Int64N(1 << 32))), Arrive: time.Duration(rng.IntN(300)) * time.Second}
			if rng.IntN(5) != 0 {
				lc.Strategy = strategies[rng.IntN(len(strategies))]
			}
			sc.Leechers = append(sc.Leechers, lc)
		}
		r, err := Run(sc)
		require.NoError(t, err)
		var spent btt.Amount
		for _, l := range r.Leechers {
			assert.False(t, l.Spent.Gt(l.Budget), "seed %d: %s spent %s of %s", seed, l.Strategy, l.Spent, l.Budget)
			spent, _ = spent.Add(l.Spent)
		}
		assert.Equal(t, spent, r.Revenue(), "what leechers spend, seeders earn")
	}
}

func TestDeterministic(t *testing.T) {
	sc := func(seed uint64) Scenario {
		s := contested(seed)
		s.Leechers = append(s.Leechers, Leecher{Name: "legacy-a", Download: 5 * mb}, Leecher{Name: "legacy-b", Download: 5 * mb}, Leecher{Name: "legacy-c", Download: 5 * mb})
		return s
	}
	a, err := Run(sc(11))
	require.NoError(t, err)
	b, err := Run(sc(11))
	require.NoError(t, err)
	assert.Equal(t, a, b, "same seed, same result")
	c, err := Run(sc(12))
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "another seed draws the free slots differently")
}

func TestReports(t *testing.T) {
	r, err := Run(contested(1))
	require.NoError(t, err)
	var table bytes.Buffer
	require.NoError(t, r.WriteTable(&table))
	assert.Contains(t, table.String(), "bid100")
	assert.Contains(t, table.String(), "fairness (Jain)")
	assert.Greater(t, r.Fairness, 0.1)
	assert.LessOrEqual(t, r.Fairness, 1.0)

	var out bytes.Buffer
	require.NoError(t, r.WriteCSV(&out))
	rows, err := csv.NewReader(&out).ReadAll()
	require.NoError(t, err)
	assert.Len(t, rows, 1+len(r.Leechers))
	assert.Equal(t, "leecher", rows[0][0])

	dir := t.TempDir()
	for _, name := range []string{"p.png", "p.svg"} {
		path := filepath.Join(dir, name)
		require.NoError(t, r.WritePlot(path))
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Greater(t, st.Size(), int64(1000))
	}
	assert.Error(t, r.WritePlot(filepath.Join(dir, "p.txt")))

	// Many leechers: one line per strategy.
	big := contested(1)
	for i := 0; i < 20; i++ {
		big.Leechers = append(big.Leechers, Leecher{Name: fmt.Sprint("l", i), Download: mb})
	}
	rb, err := Run(big)
	require.NoError(t, err)
	require.NoError(t, rb.WritePlot(filepath.Join(dir, "big.png")))
}

func BenchmarkSimulate(b *testing.B) {
	// 1,000 peers (5 seeders, 995 leechers of every strategy) for one
	// simulated hour.
	sc := Scenario{Seed: 1, Size: 2000 * mb, Duration: time.Hour, SampleEvery: time.Minute}
	for s := 0; s < 5; s++ {
		sc.Seeders = append(sc.Seeders, Seeder{Name: fmt.Sprint("s", s), Upload: 50 * mb, Policy: bidDriven(10)})
	}
	strategies := []bidding.Strategy{nil, bidding.Default{}, bidding.Fixed{Price: btt.NewAmount(20)}, bidding.Adaptive{}, bidding.Paced{Deadline: time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}}
	for l := 0; l < 995; l++ {
		sc.Leechers = append(sc.Leechers, Leecher{Name: fmt.Sprint("l", l), Download: 2 * mb, Budget: btt.BTT(1), Strategy: strategies[l%len(strategies)], Arrive: time.Duration(l) * time.Second})
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := Run(sc)
		if err != nil {
			b.Fatal(err)
		}
		if r.Elapsed != time.Hour {
			b.Fatalf("ran %v, want the whole hour", r.Elapsed)
		}
	}
}
