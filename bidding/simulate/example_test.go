package simulate_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/bidding/simulate"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
)

// outbid is a strategy a user might write: always bid one base unit more
// than the last clearing price, within the budget.
type outbid struct{}

func (outbid) Name() string { return "outbid" }

func (outbid) Bid(m bidding.Market) bidding.Bid {
	price, _ := btt.Max(m.LastClearing, m.Reserve).Add(btt.NewAmount(1))
	if limit := bidding.MaxAffordable(m); price.Gt(limit) {
		price = limit
	}
	return bidding.Bid{Price: price, Reason: "one above the clearing price"}
}

// Run a custom strategy against the shipped ones in one contested swarm.
func ExampleRun_customStrategy() {
	sc := simulate.Scenario{
		Seed: 1,
		Size: 100_000_000, // 100 MB
		Seeders: []simulate.Seeder{{
			Name:   "seeder",
			Upload: 10_000_000, // 10 MB/s
			Policy: func(rng *rand.Rand) (choker.Policy, error) {
				return choker.NewBidDriven(choker.BidDrivenConfig{Reserve: btt.NewAmount(10), Rand: rng})
			},
		}},
	}
	strategies := []bidding.Strategy{outbid{}, bidding.Default{}, bidding.Fixed{Price: btt.NewAmount(12)}, bidding.Adaptive{}, nil}
	for i := 0; i < 10; i++ {
		sc.Leechers = append(sc.Leechers, simulate.Leecher{
			Name:     fmt.Sprintf("l%d", i),
			Download: 5_000_000,
			Budget:   btt.NewAmount(5_000_000_000), // 5e9 base units: 50 per byte of the file
			Strategy: strategies[i%len(strategies)],
		})
	}
	r, err := simulate.Run(sc)
	if err != nil {
		panic(err)
	}
	for _, s := range r.Strategies {
		fmt.Printf("%-8s completed %d/%d, mean %v, paid %s per byte\n", s.Name, s.Completed, s.Leechers, s.MeanCompletion, s.PricePerByte)
	}
	// Output:
	// outbid   completed 2/2, mean 1m27s, paid 11 per byte
	// default  completed 2/2, mean 50s, paid 13 per byte
	// fixed    completed 2/2, mean 1m31s, paid 10 per byte
	// adaptive completed 2/2, mean 1m10s, paid 13 per byte
	// legacy   completed 2/2, mean 1m33s, paid 0 per byte
}
