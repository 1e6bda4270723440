package choker

import (
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func unchokedSet(d Decision) []PeerID {
	ids := d.Unchoked()
	slices.Sort(ids)
	return ids
}

func slotOf(d Decision, id PeerID) Outcome {
	for _, o := range d.Outcomes {
		if o.ID == id {
			return o
		}
	}
	return Outcome{}
}

func bidder(id PeerID, bid uint64) PeerStat {
	return PeerStat{ID: id, Interested: true, Bidder: true, Bid: btt.NewAmount(bid), Credit: 1 << 20}
}

func TestTitForTatRegularSlots(t *testing.T) {
	tests := []struct {
		name    string
		seeding bool
		peers   []PeerStat
		regular []PeerID
		reasons map[PeerID]Reason
	}{
		{
			name: "leeching ranks by rate received",
			peers: []PeerStat{
				{ID: 1, Interested: true, DownRate: 100, UpRate: 900},
				{ID: 2, Interested: true, DownRate: 500},
				{ID: 3, Interested: true, DownRate: 400},
				{ID: 4, Interested: true, DownRate: 300},
				{ID: 5, Interested: true, DownRate: 200},
				{ID: 6, Interested: false, DownRate: 1000},
			},
			regular: []PeerID{2, 3, 4, 5},
			reasons: map[PeerID]Reason{6: ReasonNotInterested},
		},
		{
			name:    "seeding ranks by rate sent",
			seeding: true,
			peers: []PeerStat{
				{ID: 1, Interested: true, UpRate: 900},
				{ID: 2, Interested: true, UpRate: 10, DownRate: 999},
				{ID: 3, Interested: true, UpRate: 800},
				{ID: 4, Interested: true, UpRate: 700},
				{ID: 5, Interested: true, UpRate: 600},
			},
			regular: []PeerID{1, 3, 4, 5},
		},
		{
			name: "ties break on lower id",
			peers: []PeerStat{
				{ID: 9, Interested: true, DownRate: 5},
				{ID: 8, Interested: true, DownRate: 5},
				{ID: 7, Interested: true, DownRate: 5},
				{ID: 6, Interested: true, DownRate: 5},
				{ID: 5, Interested: true, DownRate: 5},
			},
			regular: []PeerID{5, 6, 7, 8},
		},
		{
			name: "snubbed peer loses its regular slot",
			peers: []PeerStat{
				{ID: 1, Interested: true, AmInterested: true, DownRate: 1000, ConnectedAt: t0.Add(-5 * time.Minute), LastBlockAt: t0.Add(-61 * time.Second)},
				{ID: 2, Interested: true, AmInterested: true, DownRate: 10, ConnectedAt: t0.Add(-5 * time.Minute), LastBlockAt: t0.Add(-time.Second)},
			},
			regular: []PeerID{2},
			reasons: map[PeerID]Reason{2: ReasonTopRate},
		},
		{
			name: "a peer we want nothing from is not snubbed",
			peers: []PeerStat{
				{ID: 1, Interested: true, AmInterested: false, DownRate: 1000, ConnectedAt: t0.Add(-5 * time.Minute)},
			},
			regular: []PeerID{1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewTitForTat(TitForTatConfig{Rand: seeded(1)})
			require.NoError(t, err)
			d := p.Rechoke(t0, Snapshot{Seeding: tc.seeding, Peers: tc.peers})
			require.Len(t, d.Outcomes, len(tc.peers))
			var regular []PeerID
			for i, o := range d.Outcomes {
				assert.Equal(t, tc.peers[i].ID, o.ID, "outcomes follow snapshot order")
				if o.Slot == Regular {
					regular = append(regular, o.ID)
				}
				if !tc.peers[i].Interested {
					assert.False(t, o.Unchoke)
				}
			}
			slices.Sort(regular)
			assert.Equal(t, tc.regular, regular)
			for id, r := range tc.reasons {
				assert.Equal(t, r, slotOf(d, id).Reason, "peer %d", id)
			}
		})
	}
}

func TestTitForTatOptimisticRotation(t *testing.T) {
	p, err := NewTitForTat(TitForTatConfig{Slots: 1, Rand: seeded(7)})
	require.NoError(t, err)
	peers := []PeerStat{{ID: 1, Interested: true, DownRate: 100}}
	for id := PeerID(2); id <= 20; id++ {
		peers = append(peers, PeerStat{ID: id, Interested: true})
	}
	optimistic := func(d Decision) PeerID {
		var ids []PeerID
		for _, o := range d.Outcomes {
			if o.Slot == Optimistic {
				ids = append(ids, o.ID)
				assert.Equal(t, ReasonOptimistic, o.Reason)
			}
		}
		require.Len(t, ids, 1)
		return ids[0]
	}
	first := optimistic(p.Rechoke(t0, Snapshot{Peers: peers}))
	assert.NotEqual(t, PeerID(1), first, "the regular peer is not drawn")
	// Within the period the optimistic peer stays.
	for _, dt := range []time.Duration{10 * time.Second, 20 * time.Second, 29 * time.Second} {
		assert.Equal(t, first, optimistic(p.Rechoke(t0.Add(dt), Snapshot{Peers: peers})))
	}
	// After it, it moves to someone else.
	second := optimistic(p.Rechoke(t0.Add(30*time.Second), Snapshot{Peers: peers}))
	assert.NotEqual(t, first, second)
	// If the holder loses interest, it is replaced at once.
	for i := range peers {
		if peers[i].ID == second {
			peers[i].Interested = false
		}
	}
	third := optimistic(p.Rechoke(t0.Add(31*time.Second), Snapshot{Peers: peers}))
	assert.NotEqual(t, second, third)
}

func TestTitForTatDeterministic(t *testing.T) {
	peers := randomPeers(seeded(3), 200)
	run := func() []PeerID {
		p, err := NewTitForTat(TitForTatConfig{Rand: seeded(42)})
		require.NoError(t, err)
		var all []PeerID
		for r := 0; r < 10; r++ {
			all = append(all, unchokedSet(p.Rechoke(t0.Add(time.Duration(r)*10*time.Second), Snapshot{Peers: peers}))...)
		}
		return all
	}
	assert.Equal(t, run(), run())
}

func TestConfigErrors(t *testing.T) {
	_, err := NewTitForTat(TitForTatConfig{Slots: -1})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = NewBidDriven(BidDrivenConfig{FreePercent: 101})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = NewBidDriven(BidDrivenConfig{Slots: 1})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = NewBidDriven(BidDrivenConfig{RotationPeriod: -time.Second})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = NewPropShare(PropShareConfig{OptimisticPercent: 200})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = NewRoundRobin(SeedConfig{Quota: -1})
	assert.ErrorIs(t, err, ErrConfig)
	_, err = NewAntiLeech(SeedConfig{Slots: -2})
	assert.ErrorIs(t, err, ErrConfig)
}

func TestBidDrivenClearingPrice(t *testing.T) {
	// Slots 5, 20% free: 4 paid slots and 1 free.
	tests := []struct {
		name    string
		reserve uint64
		bids    []uint64 // peer i+1 bids bids[i]
		winners []PeerID
		price   uint64
	}{
		{name: "no bidders", bids: nil, winners: nil, price: 0},
		{name: "one bidder pays the reserve", reserve: 3, bids: []uint64{10}, winners: []PeerID{1}, price: 3},
		{name: "k bidders pay the reserve", reserve: 2, bids: []uint64{10, 9, 8, 7}, winners: []PeerID{1, 2, 3, 4}, price: 2},
		{name: "k+1 bidders pay the loser's bid", reserve: 2, bids: []uint64{10, 9, 8, 7, 5}, winners: []PeerID{1, 2, 3, 4}, price: 5},
		{name: "many bidders pay the highest losing bid", reserve: 1, bids: []uint64{3, 50, 4, 40, 6, 30, 20, 5, 2}, winners: []PeerID{2, 4, 6, 7}, price: 6},
		{name: "bids below the reserve neither win nor set the price", reserve: 10, bids: []uint64{12, 9, 11, 8, 9}, winners: []PeerID{1, 3}, price: 10},
		{name: "zero reserve uncontested is free", reserve: 0, bids: []uint64{5}, winners: []PeerID{1}, price: 0},
		{name: "a bid equal to the reserve wins", reserve: 5, bids: []uint64{5}, winners: []PeerID{1}, price: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewBidDriven(BidDrivenConfig{Reserve: btt.NewAmount(tc.reserve), LeaveIdle: true, Rand: seeded(1)})
			require.NoError(t, err)
			require.Equal(t, 4, p.PaidSlots())
			require.Equal(t, 1, p.FreeSlots())
			var peers []PeerStat
			for i, b := range tc.bids {
				peers = append(peers, bidder(PeerID(i+1), b))
			}
			d := p.Rechoke(t0, Snapshot{Peers: peers})
			var winners []PeerID
			for _, o := range d.Outcomes {
				if o.Slot == Paid {
					winners = append(winners, o.ID)
					assert.Equal(t, btt.NewAmount(tc.price), o.Price)
					assert.Equal(t, ReasonWonAuction, o.Reason)
				}
			}
			slices.Sort(winners)
			assert.Equal(t, tc.winners, winners)
			if len(tc.winners) > 0 {
				assert.Equal(t, btt.NewAmount(tc.price), d.ClearingPrice)
			} else {
				assert.True(t, d.ClearingPrice.IsZero())
			}
			for i, o := range d.Outcomes {
				if o.Slot == NoSlot && tc.bids[i] < tc.reserve {
					assert.Equal(t, ReasonBelowReserve, o.Reason)
				}
			}
		})
	}
}

func TestBidDrivenTies(t *testing.T) {
	p, err := NewBidDriven(BidDrivenConfig{Slots: 3, FreePercent: 34, LeaveIdle: true}) // 2 paid, 1 free
	require.NoError(t, err)
	require.Equal(t, 2, p.PaidSlots())
	peers := []PeerStat{bidder(1, 7), bidder(2, 7), bidder(3, 7), bidder(4, 1)}
	peers[0].DownRate = 10
	peers[1].DownRate = 30
	peers[2].DownRate = 20
	d := p.Rechoke(t0, Snapshot{Peers: peers})
	assert.Equal(t, Paid, slotOf(d, 2).Slot)
	assert.Equal(t, Paid, slotOf(d, 3).Slot)
	assert.NotEqual(t, Paid, slotOf(d, 1).Slot)
	assert.Equal(t, btt.NewAmount(7), d.ClearingPrice, "a loser on the tie-break sets the price at its equal bid")
}

func TestBidDrivenFreeSlot(t *testing.T) {
	p, err := NewBidDriven(BidDrivenConfig{Reserve: btt.NewAmount(1), LeaveIdle: true, Rand: seeded(5)})
	require.NoError(t, err)
	// Four paying bidders take the paid slots; legacy peers share the free one.
	peers := []PeerStat{bidder(1, 9), bidder(2, 8), bidder(3, 7), bidder(4, 6)}
	for id := PeerID(10); id < 20; id++ {
		peers = append(peers, PeerStat{ID: id, Interested: true}) // legacy
	}
	peers = append(peers, PeerStat{ID: 30, Interested: false}) // legacy, uninterested
	free := func(d Decision) PeerID {
		var ids []PeerID
		for _, o := range d.Outcomes {
			if o.Slot == Optimistic {
				ids = append(ids, o.ID)
			}
		}
		require.Len(t, ids, 1)
		return ids[0]
	}
	seen := map[PeerID]bool{}
	now := t0
	holder := free(p.Rechoke(now, Snapshot{Peers: peers}))
	seen[holder] = true
	for r := 0; r < 200; r++ {
		d := p.Rechoke(now, Snapshot{Peers: peers})
		got := free(d)
		assert.GreaterOrEqual(t, got, PeerID(10), "a legacy peer holds the free slot")
		assert.NotEqual(t, PeerID(30), got, "never an uninterested peer")
		assert.Equal(t, ReasonNotInterested, slotOf(d, 30).Reason)
		if r%3 != 0 {
			assert.Equal(t, holder, got, "the slot holds within its period")
		} else if r > 0 {
			assert.NotEqual(t, holder, got, "the slot rotates after its period")
		}
		holder = got
		seen[got] = true
		now = now.Add(10 * time.Second)
	}
	assert.Len(t, seen, 10, "every legacy peer got a turn")
}

func TestBidDrivenIdleSlotsFilled(t *testing.T) {
	p, err := NewBidDriven(BidDrivenConfig{Reserve: btt.NewAmount(1)})
	require.NoError(t, err)
	peers := []PeerStat{bidder(1, 5)}
	for id := PeerID(10); id < 20; id++ {
		peers = append(peers, PeerStat{ID: id, Interested: true})
	}
	d := p.Rechoke(t0, Snapshot{Peers: peers})
	assert.Equal(t, Paid, slotOf(d, 1).Slot)
	assert.Len(t, d.Unchoked(), 5, "3 idle paid slots + 1 free slot serve legacy peers")

	q, err := NewBidDriven(BidDrivenConfig{Reserve: btt.NewAmount(1), LeaveIdle: true})
	require.NoError(t, err)
	assert.Len(t, q.Rechoke(t0, Snapshot{Peers: peers}).Unchoked(), 2)
}

func TestBidDrivenOverCredit(t *testing.T) {
	p, err := NewBidDriven(BidDrivenConfig{Reserve: btt.NewAmount(1)})
	require.NoError(t, err)
	rich := bidder(1, 100)
	rich.Unpaid, rich.Credit = 2<<20, 1<<20
	honest := bidder(2, 2)
	loser := bidder(3, 1)
	d := p.Rechoke(t0, Snapshot{Peers: []PeerStat{rich, honest, loser}})
	o := slotOf(d, 1)
	assert.False(t, o.Unchoke, "a payer past its credit holds no slot, paid or free")
	assert.Equal(t, ReasonOverCredit, o.Reason)
	assert.Equal(t, Paid, slotOf(d, 2).Slot)
	assert.Equal(t, btt.NewAmount(1), d.ClearingPrice, "the non-payer's bid does not set the price")
	// Once it pays, it wins again.
	rich.Unpaid = 0
	d = p.Rechoke(t0.Add(10*time.Second), Snapshot{Peers: []PeerStat{rich, honest, loser}})
	assert.Equal(t, Paid, slotOf(d, 1).Slot)
}

func TestBidDrivenReasons(t *testing.T) {
	p, err := NewBidDriven(BidDrivenConfig{Slots: 2, Reserve: btt.NewAmount(5), LeaveIdle: true}) // 1 paid, 1 free
	require.NoError(t, err)
	peers := []PeerStat{
		bidder(1, 9),
		bidder(2, 8),
		bidder(3, 3),
		{ID: 4, Interested: true, Bidder: true},
		{ID: 5, Interested: false, Bidder: true, Bid: btt.NewAmount(100)},
	}
	d := p.Rechoke(t0, Snapshot{Peers: peers})
	assert.Equal(t, ReasonWonAuction, slotOf(d, 1).Reason)
	assert.Equal(t, btt.NewAmount(8), d.ClearingPrice)
	assert.Equal(t, ReasonNotInterested, slotOf(d, 5).Reason)
	for _, id := range []PeerID{2, 3, 4} {
		o := slotOf(d, id)
		if o.Slot == Optimistic {
			continue
		}
		want := map[PeerID]Reason{2: ReasonLostAuction, 3: ReasonBelowReserve, 4: ReasonNoBid}[id]
		assert.Equal(t, want, o.Reason, "peer %d", id)
	}
}

// TestAuctionProperties checks, over random swarms, that no winner pays more
// than its bid, every winner pays the same price, the slots are never
// exceeded, and the result matches a naive sort-and-take reference.
func TestAuctionProperties(t *testing.T) {
	rng := seeded(99)
	for round := 0; round < 500; round++ {
		n := rng.IntN(40)
		slots := 2 + rng.IntN(8)
		reserve := btt.NewAmount(uint64(rng.IntN(20)))
		p, err := NewBidDriven(BidDrivenConfig{Slots: slots, Reserve: reserve, LeaveIdle: rng.IntN(2) == 0, Rand: seeded(uint64(round))})
		require.NoError(t, err)
		peers := randomPeers(rng, n)
		d := p.Rechoke(t0, Snapshot{Peers: peers})
		require.Len(t, d.Outcomes, n)
		assert.LessOrEqual(t, len(d.Unchoked()), slots)

		var prices []btt.Amount
		var winners []PeerID
		for i, o := range d.Outcomes {
			if o.Slot != Paid {
				continue
			}
			winners = append(winners, o.ID)
			prices = append(prices, o.Price)
			assert.False(t, o.Price.Gt(peers[i].Bid), "winner pays no more than its bid")
			assert.False(t, peers[i].Bid.Lt(reserve))
		}
		for _, pr := range prices {
			assert.Equal(t, prices[0], pr, "uniform price")
		}
		wantWinners, wantPrice := naiveAuction(peers, p.PaidSlots(), reserve)
		slices.Sort(winners)
		assert.Equal(t, wantWinners, winners, "round %d", round)
		if len(winners) > 0 {
			assert.Equal(t, wantPrice, d.ClearingPrice, "round %d", round)
		}
	}
}

// naiveAuction is the reference: sort every eligible bidder and take k.
func naiveAuction(peers []PeerStat, k int, reserve btt.Amount) ([]PeerID, btt.Amount) {
	var el []PeerStat
	for _, p := range peers {
		if p.Interested && p.Bidder && !p.Bid.IsZero() && !p.Bid.Lt(reserve) && p.Unpaid <= p.Credit {
			el = append(el, p)
		}
	}
	slices.SortFunc(el, func(a, b PeerStat) int {
		if c := b.Bid.Cmp(a.Bid); c != 0 {
			return c
		}
		if a.DownRate != b.DownRate {
			return int(b.DownRate - a.DownRate)
		}
		if a.UpRate != b.UpRate {
			return int(b.UpRate - a.UpRate)
		}
		return int(a.ID) - int(b.ID)
	})
	price := reserve
	if len(el) > k {
		price = el[k].Bid
		el = el[:k]
	}
	var ids []PeerID
	for _, p := range el {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return ids, price
}

// TestTitForTatModel compares TitForTat's regular slots with a naive
// sort-and-take reference over random swarms.
func TestTitForTatModel(t *testing.T) {
	rng := seeded(5)
	for round := 0; round < 300; round++ {
		peers := randomPeers(rng, rng.IntN(50))
		seeding := rng.IntN(2) == 0
		p, err := NewTitForTat(TitForTatConfig{Rand: seeded(uint64(round))})
		require.NoError(t, err)
		d := p.Rechoke(t0, Snapshot{Seeding: seeding, Peers: peers})
		var got []PeerID
		for _, o := range d.Outcomes {
			if o.Slot == Regular {
				got = append(got, o.ID)
			}
		}
		slices.Sort(got)

		var el []PeerStat
		for _, q := range peers {
			if q.Interested && !Snubbed(t0, seeding, q, time.Minute) {
				el = append(el, q)
			}
		}
		rate := func(q PeerStat) int64 {
			if seeding {
				return q.UpRate
			}
			return q.DownRate
		}
		slices.SortFunc(el, func(a, b PeerStat) int {
			if rate(a) != rate(b) {
				return int(rate(b) - rate(a))
			}
			return int(a.ID) - int(b.ID)
		})
		var want []PeerID
		for i := 0; i < len(el) && i < 4; i++ {
			want = append(want, el[i].ID)
		}
		slices.Sort(want)
		assert.Equal(t, want, got, "round %d", round)
		assert.LessOrEqual(t, len(d.Unchoked()), 5)
	}
}

func TestPropShare(t *testing.T) {
	p, err := NewPropShare(PropShareConfig{Slots: 4, Rand: seeded(2)})
	require.NoError(t, err)
	peers := []PeerStat{
		{ID: 1, Interested: true, DownRate: 300},
		{ID: 2, Interested: true, DownRate: 100},
		{ID: 3, Interested: true, DownRate: 0},
		{ID: 4, Interested: true, DownRate: 50},
		{ID: 5, Interested: true, DownRate: 25}, // outranked: only Slots-1 = 3 contributors
		{ID: 6, Interested: false, DownRate: 1000},
	}
	d := p.Rechoke(t0, Snapshot{Peers: peers})
	var sum uint64
	for _, o := range d.Outcomes {
		sum += uint64(o.Share)
	}
	assert.Equal(t, ReasonProportionalShare, slotOf(d, 1).Reason)
	assert.Equal(t, uint32(800_000*300/450), slotOf(d, 1).Share)
	assert.Equal(t, uint32(800_000*100/450), slotOf(d, 2).Share)
	assert.Equal(t, ReasonNotInterested, slotOf(d, 6).Reason)
	assert.Equal(t, uint32(0), slotOf(d, 6).Share)
	assert.InDelta(t, 1_000_000, sum, 3, "shares add up to the whole upload")
	assert.Len(t, d.Unchoked(), 4)

	// Seeding: nobody contributes, so every slot rotates.
	s := []PeerStat{{ID: 1, Interested: true}, {ID: 2, Interested: true}}
	d = p.Rechoke(t0, Snapshot{Seeding: true, Peers: s})
	assert.Len(t, d.Unchoked(), 2)
}

func TestRoundRobin(t *testing.T) {
	p, err := NewRoundRobin(SeedConfig{Slots: 2, Quota: 1000, OptimisticSlots: 1, OptimisticPeriod: time.Hour, Rand: seeded(3)})
	require.NoError(t, err)
	peers := []PeerStat{
		{ID: 1, Interested: true, ConnectedAt: t0.Add(-4 * time.Second)},
		{ID: 2, Interested: true, ConnectedAt: t0.Add(-3 * time.Second)},
		{ID: 3, Interested: true, ConnectedAt: t0.Add(-2 * time.Second)},
		{ID: 4, Interested: true, ConnectedAt: t0.Add(-1 * time.Second)},
		{ID: 5, Interested: false},
	}
	regular := func(d Decision) []PeerID {
		var ids []PeerID
		for _, o := range d.Outcomes {
			if o.Slot == Regular {
				ids = append(ids, o.ID)
				assert.Equal(t, ReasonRoundRobin, o.Reason)
			}
		}
		slices.Sort(ids)
		return ids
	}
	assert.Equal(t, []PeerID{1, 2}, regular(p.Rechoke(t0, Snapshot{Seeding: true, Peers: peers})), "longest waiting first")
	// Peer 1 uses its quota; 2 has not: 1 yields to 3.
	peers[0].Uploaded = 1000
	peers[1].Uploaded = 10
	assert.Equal(t, []PeerID{2, 3}, regular(p.Rechoke(t0.Add(10*time.Second), Snapshot{Seeding: true, Peers: peers})))
	// 2 and 3 finish their quotas: 4 (waiting since it connected) and then 1.
	peers[1].Uploaded = 2000
	peers[2].Uploaded = 5000
	assert.Equal(t, []PeerID{1, 4}, regular(p.Rechoke(t0.Add(20*time.Second), Snapshot{Seeding: true, Peers: peers})))
	// MaxTurn ends a turn however little was taken.
	assert.Equal(t, []PeerID{2, 3}, regular(p.Rechoke(t0.Add(90*time.Second), Snapshot{Seeding: true, Peers: peers})))
	// A gone peer is forgotten.
	d := p.Rechoke(t0.Add(100*time.Second), Snapshot{Seeding: true, Peers: peers[2:]})
	assert.Equal(t, ReasonNotInterested, slotOf(d, 5).Reason)
	assert.Len(t, p.turns, 3)
}

func TestAntiLeech(t *testing.T) {
	const size = 1000
	assert.Equal(t, int64(1000), AntiLeechScore(PeerStat{Have: 0}, size))
	assert.Equal(t, int64(1000), AntiLeechScore(PeerStat{Have: size}, size))
	assert.Equal(t, int64(0), AntiLeechScore(PeerStat{Have: size / 2}, size))
	assert.Equal(t, int64(1000), AntiLeechScore(PeerStat{Uploaded: 5 * size}, size), "capped at size")
	assert.Equal(t, int64(0), AntiLeechScore(PeerStat{Have: 10}, 0))

	p, err := NewAntiLeech(SeedConfig{Slots: 2, Rand: seeded(4)})
	require.NoError(t, err)
	peers := []PeerStat{
		{ID: 1, Interested: true, Have: 500},
		{ID: 2, Interested: true, Have: 10},
		{ID: 3, Interested: true, Have: 980},
		{ID: 4, Interested: true, Have: 600},
	}
	d := p.Rechoke(t0, Snapshot{Seeding: true, Size: size, Peers: peers})
	assert.Equal(t, Regular, slotOf(d, 2).Slot)
	assert.Equal(t, Regular, slotOf(d, 3).Slot)
	assert.Equal(t, ReasonAntiLeech, slotOf(d, 3).Reason)
	assert.Len(t, d.Unchoked(), 3)
}

func TestSlotAndReasonStrings(t *testing.T) {
	assert.Equal(t, "paid", Paid.String())
	assert.Equal(t, "slot(9)", Slot(9).String())
	assert.Equal(t, "won the auction", ReasonWonAuction.String())
	assert.Equal(t, "reason(200)", Reason(200).String())
}

// TestPure enforces the layering rule: choker does no I/O.
func TestPure(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"net", "log/slog", "github.com/anacrolix/", "github.com/fbsobreira/"} {
			if dep == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) {
				t.Errorf("choker depends on %s", dep)
			}
		}
	}
}

func randomPeers(rng *rand.Rand, n int) []PeerStat {
	peers := make([]PeerStat, n)
	for i := range peers {
		p := PeerStat{
			ID:           PeerID(i + 1),
			Interested:   rng.IntN(5) != 0,
			AmInterested: rng.IntN(2) == 0,
			DownRate:     int64(rng.IntN(1000)),
			UpRate:       int64(rng.IntN(1000)),
			ConnectedAt:  t0.Add(-time.Duration(rng.IntN(600)) * time.Second),
			Have:         int64(rng.IntN(1 << 20)),
		}
		if rng.IntN(3) == 0 {
			p.LastBlockAt = t0.Add(-time.Duration(rng.IntN(120)) * time.Second)
		}
		if rng.IntN(4) != 0 {
			p.Bidder = true
			p.Bid = btt.NewAmount(uint64(rng.IntN(30)))
			p.Credit = 1 << 20
			if rng.IntN(10) == 0 {
				p.Unpaid = 2 << 20
			}
		}
		peers[i] = p
	}
	return peers
}
