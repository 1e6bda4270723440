package simulate

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
)

// rateTau is the time constant of the rate averages policies see.
const rateTau = 20 * time.Second

// pair is what one leecher and one seeder know of each other.
type pair struct {
	bid          btt.Amount
	won          bool
	wins, losses int
	lastClearing btt.Amount
	priceToBeat  btt.Amount
	rate         int64 // EWMA bytes/s, seeder → leecher
	sent         int64 // bytes this tick
	total        int64
}

type slot struct {
	leecher int
	paid    bool
	price   btt.Amount
}

type seederState struct {
	policy  choker.Policy
	reserve btt.Amount
	slots   []slot
	revenue btt.Amount
	sent    int64
	peers   []choker.PeerStat
	index   []int // peers[i] is leecher index[i]
}

type leecherState struct {
	arrived, done bool
	remaining     int64
	balance       btt.Amount
	spent         btt.Amount
	paidBytes     int64
	capLeft       int64
	finish        time.Duration
	samples       []int64
	// Playback (Leecher.Playback): bytes played, whether it started,
	// whether the playhead is waiting, the stalls and their time.
	played            int64
	playing, stalling bool
	stalls            int
	stalled           time.Duration
	bufSamples        []float64
}

// play advances the playhead of a streaming leecher by one tick.
func (l *leecherState) play(size, rate int64, startBuffer, tick time.Duration) {
	have := size - l.remaining
	if !l.playing {
		if have == size || float64(have-l.played) >= float64(rate)*startBuffer.Seconds() {
			l.playing = true
		}
		return
	}
	if l.played >= size {
		return
	}
	adv := int64(float64(rate) * tick.Seconds())
	avail := have - l.played
	if avail >= adv {
		l.played += adv
		l.stalling = false
		return
	}
	l.played += avail
	if l.played >= size {
		return
	}
	l.stalled += time.Duration(float64(tick) * float64(adv-avail) / float64(adv))
	if !l.stalling {
		l.stalling = true
		l.stalls++
	}
}

// stream returns what a streaming leecher's strategy sees of its playback.
func (l *leecherState) stream(size, rate int64) bidding.Stream {
	if rate <= 0 {
		return bidding.Stream{}
	}
	return bidding.Stream{Buffered: size - l.remaining - l.played, Rate: rate}
}

// reserver is implemented by policies with a reserve price, such as
// choker.BidDriven; leechers see it as the seeder's ask.
type reserver interface{ Reserve() btt.Amount }

// Run simulates the scenario and returns its result. It is deterministic:
// the same Scenario gives the same Result.
func Run(sc Scenario) (*Result, error) {
	if err := sc.setDefaults(); err != nil {
		return nil, err
	}
	seeders := make([]seederState, len(sc.Seeders))
	for i, s := range sc.Seeders {
		rng := rand.New(rand.NewPCG(sc.Seed, uint64(i)+1))
		var p choker.Policy
		var err error
		if s.Policy == nil {
			p, err = choker.NewBidDriven(choker.BidDrivenConfig{Rand: rng})
		} else {
			p, err = s.Policy(rng)
		}
		if err != nil {
			return nil, fmt.Errorf("simulate: seeder %d (%q): policy: %w", i, s.Name, err)
		}
		if p == nil {
			return nil, fmt.Errorf("%w: seeder %d (%q): Policy returned nil", ErrScenario, i, s.Name)
		}
		seeders[i].policy = p
		if r, ok := p.(reserver); ok {
			seeders[i].reserve = r.Reserve()
		}
	}
	leechers := make([]leecherState, len(sc.Leechers))
	for i, l := range sc.Leechers {
		leechers[i] = leecherState{remaining: sc.Size, balance: l.Budget}
	}
	pairs := make([]pair, len(sc.Seeders)*len(sc.Leechers))
	at := func(s, l int) *pair { return &pairs[s*len(sc.Leechers)+l] }

	tickSecs := float64(sc.Tick) / float64(time.Second)
	rechokeEvery := int64(sc.Rechoke / sc.Tick)
	sampleEvery := int64(sc.SampleEvery / sc.Tick)
	steps := int64(sc.Duration / sc.Tick)
	var elapsed time.Duration
	var step int64
	for step = 0; step < steps; step++ {
		elapsed = time.Duration(step) * sc.Tick
		now := sc.Start.Add(elapsed)
		pending := 0
		for i := range leechers {
			l := &leechers[i]
			if !l.arrived && sc.Leechers[i].Arrive <= elapsed {
				l.arrived = true
			}
			if !l.done {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if step%sampleEvery == 0 {
			for i := range leechers {
				l := &leechers[i]
				l.samples = append(l.samples, sc.Size-l.remaining)
				if rate := sc.Leechers[i].Playback; rate > 0 && l.played < sc.Size {
					l.bufSamples = append(l.bufSamples, l.stream(sc.Size, rate).BufferTime().Seconds())
				}
			}
		}
		if step%rechokeEvery == 0 {
			for s := range seeders {
				rechoke(&sc, s, &seeders[s], leechers, at, now)
			}
		}
		// Delivery.
		for i := range leechers {
			l := &leechers[i]
			l.capLeft = 0
			if l.arrived && !l.done {
				l.capLeft = min(int64(float64(sc.Leechers[i].Download)*tickSecs), l.remaining)
			}
		}
		for s := range seeders {
			deliver(&sc, s, &seeders[s], leechers, at, int64(float64(sc.Seeders[s].Upload)*tickSecs))
		}
		for s := range seeders {
			for i := range leechers {
				p := at(s, i)
				inst := int64(float64(p.sent) / tickSecs)
				p.rate += (inst - p.rate) * int64(sc.Tick) / int64(rateTau)
				p.sent = 0
			}
		}
		for i := range leechers {
			l := &leechers[i]
			if spec := &sc.Leechers[i]; l.arrived && spec.Playback > 0 {
				l.play(sc.Size, spec.Playback, spec.StartBuffer, sc.Tick)
			}
			if l.arrived && !l.done && l.remaining == 0 {
				l.done = true
				l.finish = elapsed + sc.Tick
			}
		}
	}
	elapsed = time.Duration(step) * sc.Tick
	return buildResult(&sc, seeders, leechers, elapsed), nil
}

// rechoke runs one bidding and rechoke round at seeder s.
func rechoke(sc *Scenario, s int, st *seederState, leechers []leecherState, at func(s, l int) *pair, now time.Time) {
	st.peers = st.peers[:0]
	st.index = st.index[:0]
	for i := range leechers {
		l := &leechers[i]
		if !l.arrived || l.done {
			continue
		}
		p := at(s, i)
		spec := &sc.Leechers[i]
		ps := choker.PeerStat{
			ID:          choker.PeerID(i + 1),
			Interested:  true,
			UpRate:      p.rate,
			Uploaded:    p.total,
			ConnectedAt: sc.Start.Add(spec.Arrive),
			Have:        sc.Size - l.remaining,
		}
		if spec.Strategy != nil {
			b := spec.Strategy.Bid(bidding.Market{
				Now:          now,
				Remaining:    l.remaining,
				Balance:      l.balance,
				Current:      p.bid,
				Reserve:      st.reserve,
				LastClearing: p.lastClearing,
				PriceToBeat:  p.priceToBeat,
				Won:          p.won,
				Wins:         p.wins,
				Losses:       p.losses,
				Rate:         p.rate,
				Stream:       l.stream(sc.Size, spec.Playback),
			})
			p.bid = b.Price
			ps.Bidder = true
			ps.Bid = b.Price
			ps.Credit = sc.Size // paid at once: never over credit
		}
		st.peers = append(st.peers, ps)
		st.index = append(st.index, i)
	}
	d := st.policy.Rechoke(now, choker.Snapshot{Seeding: true, Size: sc.Size, Peers: st.peers})
	st.slots = st.slots[:0]
	for k, o := range d.Outcomes {
		if k >= len(st.index) {
			break
		}
		i := st.index[k]
		p := at(s, i)
		if o.Unchoke {
			st.slots = append(st.slots, slot{leecher: i, paid: o.Slot == choker.Paid, price: o.Price})
		}
		if !st.peers[k].Bidder || p.bid.IsZero() {
			continue
		}
		if !d.ClearingPrice.IsZero() {
			p.lastClearing = d.ClearingPrice
		}
		if o.Slot == choker.Paid {
			p.won, p.wins, p.losses = true, p.wins+1, 0
			p.priceToBeat = btt.Zero
			continue
		}
		p.won, p.wins, p.losses = false, 0, p.losses+1
		switch o.Reason {
		case choker.ReasonBelowReserve:
			p.priceToBeat = st.reserve
		case choker.ReasonLostAuction:
			beat, err := d.ClearingPrice.Add(btt.NewAmount(1))
			if err == nil {
				p.priceToBeat = beat
			}
		}
	}
}

// deliver splits seeder s's capacity for one tick among its unchoked peers.
func deliver(sc *Scenario, s int, st *seederState, leechers []leecherState, at func(s, l int) *pair, capacity int64) {
	for capacity > 0 {
		open := 0
		for _, sl := range st.slots {
			if leechers[sl.leecher].capLeft > 0 {
				open++
			}
		}
		if open == 0 {
			return
		}
		share := capacity / int64(open)
		if share == 0 {
			share = 1
		}
		given := int64(0)
		for _, sl := range st.slots {
			l := &leechers[sl.leecher]
			if l.capLeft <= 0 || capacity-given <= 0 {
				continue
			}
			n := min(share, l.capLeft, capacity-given)
			if sl.paid && !sl.price.IsZero() {
				// Never more than the balance pays for (the strategies'
				// cap makes this a no-op; it guards a custom Strategy).
				if afford, ok := l.balance.Div(sl.price); ok {
					if a, fits := afford.Uint64(); fits && int64(a) >= 0 && int64(a) < n {
						n = int64(a)
					}
				}
				if n == 0 {
					continue
				}
				cost, err := sl.price.MulUint64(uint64(n))
				if err != nil {
					continue
				}
				l.balance = l.balance.SubFloor(cost)
				l.spent, _ = l.spent.Add(cost)
				st.revenue, _ = st.revenue.Add(cost)
				l.paidBytes += n
			}
			l.capLeft -= n
			l.remaining -= n
			p := at(s, sl.leecher)
			p.sent += n
			p.total += n
			st.sent += n
			given += n
		}
		capacity -= given
		if given == 0 {
			return
		}
	}
}
