package choker

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// PropShareConfig configures PropShare. Zero fields take the defaults shown.
type PropShareConfig struct {
	// Slots is the most peers unchoked at once, the optimistic one
	// included (default 8).
	Slots int
	// OptimisticPercent is the share of upload, in percent, kept for the
	// optimistic peer (default 20, as in Levin et al.).
	OptimisticPercent int
	// OptimisticPeriod is how long the optimistic unchoke lasts (default
	// 30 s).
	OptimisticPeriod time.Duration
	// Rand draws the optimistic peer. Nil means a fixed seed.
	Rand *rand.Rand
}

func (c *PropShareConfig) setDefaults() error {
	if c.Slots < 0 || c.OptimisticPercent < 0 || c.OptimisticPercent > 100 || c.OptimisticPeriod < 0 {
		return fmt.Errorf("%w: PropShare: Slots %d, OptimisticPercent %d (want 0–100), OptimisticPeriod %v", ErrConfig, c.Slots, c.OptimisticPercent, c.OptimisticPeriod)
	}
	if c.Slots == 0 {
		c.Slots = 8
	}
	if c.OptimisticPercent == 0 {
		c.OptimisticPercent = 20
	}
	if c.OptimisticPeriod == 0 {
		c.OptimisticPeriod = 30 * time.Second
	}
	if c.Rand == nil {
		c.Rand = defaultRand()
	}
	if c.Slots < 2 {
		return fmt.Errorf("%w: PropShare: needs at least 2 slots, got %d", ErrConfig, c.Slots)
	}
	return nil
}

// PropShare is the proportional-share policy of Levin, LaCurts, Spring and
// Bhattacharjee, "BitTorrent is an Auction" (SIGCOMM 2008): a peer gives
// each peer that uploaded to it in the last round a share of its upload in
// proportion to what that peer contributed, and keeps OptimisticPercent for
// one optimistic peer. Every interested contributor among the Slots−1
// largest is unchoked, and its share, in parts per million of our upload,
// is in Outcome.Share.
//
// Our engine unchokes or chokes; it does not yet split bandwidth by share,
// so in the engine PropShare acts as "unchoke every contributor"; the
// simulator (bidding/simulate) honours the shares. While seeding nobody
// contributes, and PropShare then rotates all its slots optimistically.
type PropShare struct {
	cfg    PropShareConfig
	top    topK
	rot    rotator
	out    []Outcome
	slot   []Slot
	shares []uint32
	buf    []int
}

// NewPropShare returns a PropShare policy.
func NewPropShare(cfg PropShareConfig) (*PropShare, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &PropShare{cfg: cfg}, nil
}

// Rechoke implements Policy.
func (ps *PropShare) Rechoke(now time.Time, s Snapshot) Decision {
	peers := s.Peers
	ps.out = resize(ps.out, len(peers))
	ps.slot = resize(ps.slot, len(peers))
	ps.shares = resize(ps.shares, len(peers))
	ps.top.reset(ps.cfg.Slots-1, func(a, b int) bool {
		if peers[a].DownRate != peers[b].DownRate {
			return peers[a].DownRate > peers[b].DownRate
		}
		return peers[a].ID < peers[b].ID
	})
	for i := range peers {
		if peers[i].Interested && peers[i].DownRate > 0 {
			ps.top.offer(i)
		}
	}
	var total int64
	for _, i := range ps.top.idx {
		ps.slot[i] = Regular
		total += peers[i].DownRate
	}
	optimistic := 1
	if len(ps.top.idx) == 0 {
		optimistic = ps.cfg.Slots
	}
	ps.buf = ps.rot.update(now, ps.cfg.OptimisticPeriod, peers, func(i int) bool {
		return peers[i].Interested && ps.slot[i] == NoSlot
	}, optimistic, ps.cfg.Rand, ps.buf[:0])
	for _, i := range ps.buf {
		ps.slot[i] = Optimistic
	}
	const million = 1_000_000
	optShare := uint64(ps.cfg.OptimisticPercent) * million / 100
	if len(ps.buf) == 0 {
		optShare = 0
	}
	if len(ps.top.idx) == 0 && len(ps.buf) > 0 {
		optShare = million
	}
	for _, i := range ps.top.idx {
		ps.shares[i] = uint32((million - optShare) * uint64(peers[i].DownRate) / uint64(total))
	}
	for _, i := range ps.buf {
		ps.shares[i] = uint32(optShare / uint64(len(ps.buf)))
	}
	fillOutcomes(ps.out, peers, ps.slot, ReasonProportionalShare, nil)
	for i := range ps.out {
		ps.out[i].Share = ps.shares[i]
	}
	return Decision{Outcomes: ps.out}
}
