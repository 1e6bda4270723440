package simulate_test

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/bidding/simulate"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
)

var streamPlot = flag.String("stream-plot", "", "write TestDeadlineKeepsStreamPlaying's buffer chart to this .png or .svg")

// streamScenario is a 1.2 GB video played at 1 MB/s from two seeders of
// 3 MB/s (5 slots, one free, reserve 10 per byte), with three legacy
// peers from the start, and ten rivals bidding rivalPrice per byte
// arriving at 6 min. The player's budget is budget per byte of the file.
func streamScenario(s bidding.Strategy, budget, rivalPrice uint64) simulate.Scenario {
	policy := func(rng *rand.Rand) (choker.Policy, error) {
		return choker.NewBidDriven(choker.BidDrivenConfig{Reserve: btt.NewAmount(10), Rand: rng})
	}
	sc := simulate.Scenario{
		Seed:     1,
		Size:     1_200_000_000,
		Duration: time.Hour,
		Seeders: []simulate.Seeder{
			{Name: "s1", Upload: 3_000_000, Policy: policy},
			{Name: "s2", Upload: 3_000_000, Policy: policy},
		},
		Leechers: []simulate.Leecher{{
			Name: "player", Download: 2_000_000, Playback: 1_000_000,
			Budget: btt.NewAmount(budget * 1_200_000_000), Strategy: s,
		}},
	}
	for i := range 3 {
		sc.Leechers = append(sc.Leechers, simulate.Leecher{Name: fmt.Sprintf("legacy%d", i), Download: 2_000_000})
	}
	for i := range 10 {
		sc.Leechers = append(sc.Leechers, simulate.Leecher{
			Name: fmt.Sprintf("rival%d", i), Download: 1_000_000, Arrive: 6 * time.Minute,
			Budget: btt.NewAmount(1e12), Strategy: bidding.Fixed{Price: btt.NewAmount(rivalPrice)},
		})
	}
	return sc
}

// TestDeadlineKeepsStreamPlaying: at the same budget (24 per byte, rivals
// at 40), Default spends on every byte while the player is far ahead and
// is priced out when the rivals arrive, and the stream stalls; Deadline
// rides the free slots while ahead, keeps the budget to outbid them when
// its buffer runs low, and the stream plays through.
func TestDeadlineKeepsStreamPlaying(t *testing.T) {
	var table bytes.Buffer
	players := map[string]simulate.LeecherResult{}
	var results []*simulate.Result
	for _, s := range []bidding.Strategy{bidding.Default{}, bidding.Deadline{}} {
		r, err := simulate.Run(streamScenario(s, 24, 40))
		require.NoError(t, err)
		require.NoError(t, r.WriteTable(&table))
		table.WriteString("\n")
		p, ok := r.Leecher("player")
		require.True(t, ok)
		players[s.Name()] = p
		results = append(results, r)
	}
	t.Log("\n" + table.String())
	def, dl := players["default"], players["deadline"]
	assert.Positive(t, def.Stalls, "Default stalls")
	assert.Zero(t, dl.Stalls, "Deadline plays through")
	assert.True(t, dl.Done)
	assert.False(t, dl.Spent.Gt(dl.Budget))

	// One chart of both players' buffers.
	both := *results[0]
	both.Leechers = nil
	for i, r := range results {
		p, _ := r.Leecher("player")
		p.Name = []string{"player A", "player B"}[i]
		both.Leechers = append(both.Leechers, p)
	}
	path := *streamPlot
	if path == "" {
		path = filepath.Join(t.TempDir(), "buffer.png")
	}
	require.NoError(t, both.WriteBufferPlot(path))
}

// TestDeadlineStreamGrid runs the stream scenario over budgets and rival
// prices and logs each strategy's stall time: where a budget cannot beat
// the rivals both stall, where it easily can neither does, and between,
// Deadline plays where Default stalls. Over the grid Deadline stalls less
// than half as long.
func TestDeadlineStreamGrid(t *testing.T) {
	var total [2]time.Duration
	var tb bytes.Buffer
	tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "budget/byte\trival bid\tdefault stalled\tdeadline stalled\t\n")
	for _, budget := range []uint64{20, 22, 24, 26, 28, 30} {
		for _, rival := range []uint64{30, 35, 40, 45, 50} {
			var stalled [2]time.Duration
			for k, s := range []bidding.Strategy{bidding.Default{}, bidding.Deadline{}} {
				r, err := simulate.Run(streamScenario(s, budget, rival))
				require.NoError(t, err)
				p, _ := r.Leecher("player")
				stalled[k] = p.Stalled
				total[k] += p.Stalled
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t\n", budget, rival, stalled[0].Round(time.Second), stalled[1].Round(time.Second))
		}
	}
	require.NoError(t, tw.Flush())
	t.Log("\n" + tb.String())
	t.Logf("total stalled: default %v, deadline %v", total[0].Round(time.Second), total[1].Round(time.Second))
	assert.Less(t, 2*total[1], total[0])
}
