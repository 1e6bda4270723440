package choker_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
)

func ExampleTitForTat_Rechoke() {
	p, err := choker.NewTitForTat(choker.TitForTatConfig{Slots: 2, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := p.Rechoke(now, choker.Snapshot{Peers: []choker.PeerStat{
		{ID: 1, Interested: true, DownRate: 50_000},
		{ID: 2, Interested: true, DownRate: 20_000},
		{ID: 3, Interested: true, DownRate: 10_000},
		{ID: 4, Interested: false, DownRate: 90_000},
	}})
	for _, o := range d.Outcomes {
		fmt.Printf("peer %d: unchoke=%v slot=%s (%s)\n", o.ID, o.Unchoke, o.Slot, o.Reason)
	}
	// Output:
	// peer 1: unchoke=true slot=regular (among the best rates)
	// peer 2: unchoke=true slot=regular (among the best rates)
	// peer 3: unchoke=true slot=optimistic (optimistic slot)
	// peer 4: unchoke=false slot=none (not interested)
}

func ExampleBidDriven_Rechoke() {
	// Three slots: two are auctioned, one is free. Prices are base units
	// per byte.
	p, err := choker.NewBidDriven(choker.BidDrivenConfig{
		Slots:       3,
		FreePercent: 34,
		Reserve:     btt.NewAmount(2),
		Rand:        rand.New(rand.NewPCG(1, 2)),
	})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bid := func(id choker.PeerID, price uint64) choker.PeerStat {
		return choker.PeerStat{ID: id, Interested: true, Bidder: true, Bid: btt.NewAmount(price), Credit: 1 << 20}
	}
	d := p.Rechoke(now, choker.Snapshot{Peers: []choker.PeerStat{
		bid(1, 9), bid(2, 7), bid(3, 4), bid(4, 1),
		{ID: 5, Interested: true}, // a legacy peer: it never bids
	}})
	fmt.Println("clearing price:", d.ClearingPrice)
	for _, o := range d.Outcomes {
		fmt.Printf("peer %d: %s, pays %s (%s)\n", o.ID, o.Slot, o.Price, o.Reason)
	}
	// Output:
	// clearing price: 4
	// peer 1: paid, pays 4 (won the auction)
	// peer 2: paid, pays 4 (won the auction)
	// peer 3: none, pays 0 (bid below the clearing price)
	// peer 4: none, pays 0 (bid below the reserve price)
	// peer 5: optimistic, pays 0 (optimistic slot)
}

func ExamplePropShare_Rechoke() {
	p, err := choker.NewPropShare(choker.PropShareConfig{Slots: 3})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := p.Rechoke(now, choker.Snapshot{Peers: []choker.PeerStat{
		{ID: 1, Interested: true, DownRate: 300},
		{ID: 2, Interested: true, DownRate: 100},
		{ID: 3, Interested: true},
	}})
	for _, o := range d.Outcomes {
		fmt.Printf("peer %d: %s, %d ppm of upload\n", o.ID, o.Slot, o.Share)
	}
	// Output:
	// peer 1: regular, 600000 ppm of upload
	// peer 2: regular, 200000 ppm of upload
	// peer 3: optimistic, 200000 ppm of upload
}

func ExampleRoundRobin_Rechoke() {
	p, err := choker.NewRoundRobin(choker.SeedConfig{Slots: 1, Quota: 1 << 20, OptimisticSlots: 1})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	peers := []choker.PeerStat{
		{ID: 1, Interested: true, ConnectedAt: now.Add(-time.Minute)},
		{ID: 2, Interested: true, ConnectedAt: now},
	}
	d := p.Rechoke(now, choker.Snapshot{Seeding: true, Peers: peers})
	fmt.Println(d.Outcomes[0].Slot, d.Outcomes[1].Slot)
	peers[0].Uploaded = 1 << 20 // peer 1 used its quota: its turn ends
	d = p.Rechoke(now.Add(10*time.Second), choker.Snapshot{Seeding: true, Peers: peers})
	fmt.Println(d.Outcomes[0].Slot, d.Outcomes[1].Slot)
	// Output:
	// regular optimistic
	// optimistic regular
}

func ExampleAntiLeech_Rechoke() {
	p, err := choker.NewAntiLeech(choker.SeedConfig{Slots: 1, OptimisticSlots: 1})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := p.Rechoke(now, choker.Snapshot{Seeding: true, Size: 1000, Peers: []choker.PeerStat{
		{ID: 1, Interested: true, Have: 500}, // halfway: least favoured
		{ID: 2, Interested: true, Have: 950}, // nearly done: most favoured
		{ID: 3, Interested: true, Have: 400},
	}})
	for _, o := range d.Outcomes {
		fmt.Printf("peer %d: %s\n", o.ID, o.Slot)
	}
	// Output:
	// peer 1: none
	// peer 2: regular
	// peer 3: optimistic
}
