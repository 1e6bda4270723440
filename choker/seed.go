package choker

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// SeedConfig configures the seed policies RoundRobin and AntiLeech. Zero
// fields take the defaults shown.
type SeedConfig struct {
	// Slots is the number of regular slots (default 4).
	Slots int
	// Quota is how many bytes a peer receives in one round-robin turn
	// before it yields its slot (default 256 KiB, about one piece).
	Quota int64
	// MaxTurn is the longest a round-robin turn lasts, however little the
	// peer took (default 60 s).
	MaxTurn time.Duration
	// OptimisticSlots is the number of optimistic slots beside the regular
	// ones (default 1).
	OptimisticSlots int
	// OptimisticPeriod is how long an optimistic unchoke lasts (default
	// 30 s).
	OptimisticPeriod time.Duration
	// Rand draws the optimistic peer. Nil means a fixed seed.
	Rand *rand.Rand
}

func (c *SeedConfig) setDefaults(name string) error {
	if c.Slots < 0 || c.Quota < 0 || c.MaxTurn < 0 || c.OptimisticSlots < 0 || c.OptimisticPeriod < 0 {
		return fmt.Errorf("%w: %s: negative slots, quota or durations", ErrConfig, name)
	}
	if c.Slots == 0 {
		c.Slots = 4
	}
	if c.Quota == 0 {
		c.Quota = 256 << 10
	}
	if c.MaxTurn == 0 {
		c.MaxTurn = time.Minute
	}
	if c.OptimisticSlots == 0 {
		c.OptimisticSlots = 1
	}
	if c.OptimisticPeriod == 0 {
		c.OptimisticPeriod = 30 * time.Second
	}
	if c.Rand == nil {
		c.Rand = defaultRand()
	}
	return nil
}

// RoundRobin is libtorrent's round-robin seed choking: the interested peers
// take turns in the regular slots. A peer keeps its slot until it has
// received Quota bytes in its turn or MaxTurn has passed, then goes to the
// back of the line; the slot goes to the peer that has waited longest (a
// newcomer counts as having waited since it connected). One optimistic slot
// rotates as in TitForTat. It suits seeding, where no peer gives anything
// back to rank it by.
type RoundRobin struct {
	cfg   SeedConfig
	gen   uint64
	turns map[PeerID]*rrTurn
	top   topK
	rot   rotator
	out   []Outcome
	slot  []Slot
	buf   []int
	ptrs  []*rrTurn
}

type rrTurn struct {
	seen       uint64
	holding    bool
	start      time.Time // turn start, while holding
	startBytes int64     // Uploaded at turn start
	waitSince  time.Time // end of the last turn, or first seen
}

// NewRoundRobin returns a RoundRobin policy.
func NewRoundRobin(cfg SeedConfig) (*RoundRobin, error) {
	if err := cfg.setDefaults("RoundRobin"); err != nil {
		return nil, err
	}
	return &RoundRobin{cfg: cfg, turns: make(map[PeerID]*rrTurn)}, nil
}

// Rechoke implements Policy.
func (r *RoundRobin) Rechoke(now time.Time, s Snapshot) Decision {
	peers := s.Peers
	r.gen++
	r.out = resize(r.out, len(peers))
	r.slot = resize(r.slot, len(peers))
	r.ptrs = resize(r.ptrs, len(peers))
	for i, p := range peers {
		t := r.turns[p.ID]
		if t == nil {
			since := p.ConnectedAt
			if since.IsZero() {
				since = now
			}
			t = &rrTurn{waitSince: since}
			r.turns[p.ID] = t
		}
		t.seen = r.gen
		r.ptrs[i] = t
		// End turns that used their quota or time, or whose peer lost
		// interest.
		if t.holding && (!p.Interested || p.Uploaded-t.startBytes >= r.cfg.Quota || now.Sub(t.start) >= r.cfg.MaxTurn) {
			t.holding = false
			t.waitSince = now
		}
	}
	for id, t := range r.turns {
		if t.seen != r.gen {
			delete(r.turns, id)
		}
	}
	// Current holders keep their slots first, then those waiting longest.
	r.top.reset(r.cfg.Slots, func(a, b int) bool {
		ta, tb := r.ptrs[a], r.ptrs[b]
		if ta.holding != tb.holding {
			return ta.holding
		}
		if !ta.waitSince.Equal(tb.waitSince) {
			return ta.waitSince.Before(tb.waitSince)
		}
		return peers[a].ID < peers[b].ID
	})
	for i := range peers {
		if peers[i].Interested {
			r.top.offer(i)
		}
	}
	for _, i := range r.top.idx {
		r.slot[i] = Regular
		if t := r.ptrs[i]; !t.holding {
			t.holding = true
			t.start = now
			t.startBytes = peers[i].Uploaded
		}
	}
	for i, t := range r.ptrs {
		if t.holding && r.slot[i] != Regular {
			t.holding = false
			t.waitSince = now
		}
	}
	r.buf = r.rot.update(now, r.cfg.OptimisticPeriod, peers, func(i int) bool {
		return peers[i].Interested && r.slot[i] == NoSlot
	}, r.cfg.OptimisticSlots, r.cfg.Rand, r.buf[:0])
	for _, i := range r.buf {
		r.slot[i] = Optimistic
	}
	fillOutcomes(r.out, peers, r.slot, ReasonRoundRobin, nil)
	return Decision{Outcomes: r.out}
}

// AntiLeech is libtorrent's anti-leech seed choking: it favours peers that
// have very little of the torrent (they need a start) or nearly all of it
// (they are about to become seeds), and ranks peers in the middle last,
// since those are the ones most likely to be leeching without giving back.
// A peer's score is |have − size/2| × 2000 / size, in [0, 1000], where have
// is the larger of the bytes the peer has and the bytes we sent it; the
// Slots best scores are unchoked, ties broken by rate sent, then PeerID.
// One optimistic slot rotates as in TitForTat.
type AntiLeech struct {
	cfg  SeedConfig
	top  topK
	rot  rotator
	out  []Outcome
	slot []Slot
	buf  []int
}

// NewAntiLeech returns an AntiLeech policy.
func NewAntiLeech(cfg SeedConfig) (*AntiLeech, error) {
	if err := cfg.setDefaults("AntiLeech"); err != nil {
		return nil, err
	}
	return &AntiLeech{cfg: cfg}, nil
}

// AntiLeechScore is the anti-leech score of a peer in a torrent of size
// bytes: 1000 for a peer with nothing or everything, 0 for one with half.
func AntiLeechScore(p PeerStat, size int64) int64 {
	if size <= 0 {
		return 0
	}
	have := max(p.Have, p.Uploaded)
	if have > size {
		have = size
	}
	d := have - size/2
	if d < 0 {
		d = -d
	}
	// d ≤ size/2 + 1, and d×2000 fits comfortably in int64 for any real
	// torrent size (< 4 EiB).
	return d * 2000 / size
}

// Rechoke implements Policy.
func (a *AntiLeech) Rechoke(now time.Time, s Snapshot) Decision {
	peers := s.Peers
	a.out = resize(a.out, len(peers))
	a.slot = resize(a.slot, len(peers))
	a.top.reset(a.cfg.Slots, func(x, y int) bool {
		sx, sy := AntiLeechScore(peers[x], s.Size), AntiLeechScore(peers[y], s.Size)
		if sx != sy {
			return sx > sy
		}
		if peers[x].UpRate != peers[y].UpRate {
			return peers[x].UpRate > peers[y].UpRate
		}
		return peers[x].ID < peers[y].ID
	})
	for i := range peers {
		if peers[i].Interested {
			a.top.offer(i)
		}
	}
	for _, i := range a.top.idx {
		a.slot[i] = Regular
	}
	a.buf = a.rot.update(now, a.cfg.OptimisticPeriod, peers, func(i int) bool {
		return peers[i].Interested && a.slot[i] == NoSlot
	}, a.cfg.OptimisticSlots, a.cfg.Rand, a.buf[:0])
	for _, i := range a.buf {
		a.slot[i] = Optimistic
	}
	fillOutcomes(a.out, peers, a.slot, ReasonAntiLeech, nil)
	return Decision{Outcomes: a.out}
}
