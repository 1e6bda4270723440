package bidding_test

import (
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
)

func ExampleDefault() {
	// 1 BTT left for 1 GB still wanted: bid balance / remaining.
	s := bidding.Default{}
	m := bidding.Market{Remaining: 1_000_000_000, Balance: btt.BTT(1)}
	b := s.Bid(m)
	fmt.Println(b.Price, "base units per byte:", b.Reason)

	// A 5% rise is not worth a new bid message.
	m.Current = b.Price
	m.Balance = mustBTT("1.05")
	fmt.Println(s.Bid(m).Price, s.Bid(m).Reason)
	// Output:
	// 1000000000 base units per byte: re-bid: spending rate × balance / remaining
	// 1000000000 bid moved less than 10%: keep the standing bid
}

func ExampleAdaptive() {
	s := bidding.Adaptive{}
	m := bidding.Market{Remaining: 1 << 20, Balance: btt.BTT(1), Reserve: btt.NewAmount(100)}
	for round := 0; round < 4; round++ {
		b := s.Bid(m)
		fmt.Printf("round %d: bid %s (%s)\n", round, b.Price, b.Reason)
		m.Current = b.Price
		m.Losses++ // keep losing
	}
	// Output:
	// round 0: bid 100 (opening bid)
	// round 1: bid 125 (lost the last round: raise)
	// round 2: bid 156 (lost the last round: raise)
	// round 3: bid 195 (lost the last round: raise)
}

func ExamplePaced() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := bidding.Paced{Deadline: start.Add(100 * time.Second)}
	// 1 MB in 100 s needs 10 kB/s; we get 5 kB/s: raise.
	b := s.Bid(bidding.Market{Now: start, Remaining: 1_000_000, Balance: btt.BTT(1), Current: btt.NewAmount(1000), Rate: 5_000, Won: true})
	fmt.Println(b.Price, b.Reason)
	// Output:
	// 1100 behind schedule: raise
}

func ExampleFixed() {
	s := bidding.Fixed{Price: btt.NewAmount(500)}
	// 100 bytes left but only 20,000 base units: 500 each would overspend.
	b := s.Bid(bidding.Market{Remaining: 100, Balance: btt.NewAmount(20_000)})
	fmt.Println(b.Price, b.Reason)
	// Output:
	// 200 capped so the budget covers every byte still wanted
}

func mustBTT(s string) btt.Amount {
	a, err := btt.ParseBTT(s)
	if err != nil {
		panic(err)
	}
	return a
}
