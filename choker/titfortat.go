package choker

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// TitForTatConfig configures TitForTat. Zero fields take the defaults shown.
type TitForTatConfig struct {
	// Slots is the number of regular unchoke slots (default 4).
	Slots int
	// OptimisticSlots is the number of optimistic slots (default 1).
	OptimisticSlots int
	// OptimisticPeriod is how long an optimistic unchoke lasts before it
	// rotates (default 30 s).
	OptimisticPeriod time.Duration
	// SnubTimeout is how long a peer we want data from may send us
	// nothing before it is snubbed and loses its regular slot (default
	// 60 s).
	SnubTimeout time.Duration
	// Rand draws the optimistic peer. Nil means a generator with a fixed
	// seed: deterministic, which tests want; an application passes a
	// seeded one.
	Rand *rand.Rand
}

func (c *TitForTatConfig) setDefaults() error {
	if c.Slots < 0 || c.OptimisticSlots < 0 || c.OptimisticPeriod < 0 || c.SnubTimeout < 0 {
		return fmt.Errorf("%w: TitForTat: negative slots or durations", ErrConfig)
	}
	if c.Slots == 0 {
		c.Slots = 4
	}
	if c.OptimisticSlots == 0 {
		c.OptimisticSlots = 1
	}
	if c.OptimisticPeriod == 0 {
		c.OptimisticPeriod = 30 * time.Second
	}
	if c.SnubTimeout == 0 {
		c.SnubTimeout = 60 * time.Second
	}
	if c.Rand == nil {
		c.Rand = defaultRand()
	}
	return nil
}

// TitForTat is BEP 3's choking algorithm as real clients implement it: the
// interested peers with the best rates get the regular slots — rate received
// from them while we download, rate sent to them while we seed — and one
// more, drawn at random among the other interested peers (new peers three
// times as likely), holds the optimistic slot for OptimisticPeriod. While we
// download, a peer we want data from that has sent us nothing for
// SnubTimeout is snubbed: it loses its regular slot and can only be drawn
// for the optimistic one. Uninterested peers are choked.
//
// Ties in rate break on the lower PeerID, so decisions are deterministic.
type TitForTat struct {
	cfg  TitForTatConfig
	top  topK
	opt  rotator
	out  []Outcome
	slot []Slot
	buf  []int
}

// NewTitForTat returns a TitForTat policy.
func NewTitForTat(cfg TitForTatConfig) (*TitForTat, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &TitForTat{cfg: cfg}, nil
}

// Snubbed reports whether a peer counts as snubbed at now: while we
// download, we want its data, and it has sent us no block for timeout.
func Snubbed(now time.Time, seeding bool, p PeerStat, timeout time.Duration) bool {
	if seeding || !p.AmInterested {
		return false
	}
	last := p.LastBlockAt
	if last.IsZero() {
		last = p.ConnectedAt
	}
	if last.IsZero() {
		return false
	}
	return now.Sub(last) >= timeout
}

// Rechoke implements Policy.
func (t *TitForTat) Rechoke(now time.Time, s Snapshot) Decision {
	peers := s.Peers
	t.out = resize(t.out, len(peers))
	t.slot = resize(t.slot, len(peers))
	rate := func(i int) int64 {
		if s.Seeding {
			return peers[i].UpRate
		}
		return peers[i].DownRate
	}
	t.top.reset(t.cfg.Slots, func(a, b int) bool {
		ra, rb := rate(a), rate(b)
		if ra != rb {
			return ra > rb
		}
		return peers[a].ID < peers[b].ID
	})
	for i := range peers {
		if peers[i].Interested && !Snubbed(now, s.Seeding, peers[i], t.cfg.SnubTimeout) {
			t.top.offer(i)
		}
	}
	for _, i := range t.top.idx {
		t.slot[i] = Regular
	}
	t.buf = t.opt.update(now, t.cfg.OptimisticPeriod, peers, func(i int) bool {
		return peers[i].Interested && t.slot[i] == NoSlot
	}, t.cfg.OptimisticSlots, t.cfg.Rand, t.buf[:0])
	for _, i := range t.buf {
		t.slot[i] = Optimistic
	}
	fillOutcomes(t.out, peers, t.slot, ReasonTopRate, func(i int) Reason {
		if Snubbed(now, s.Seeding, peers[i], t.cfg.SnubTimeout) {
			return ReasonSnubbed
		}
		return ReasonOutranked
	})
	return Decision{Outcomes: t.out}
}
