package choker

import (
	"math/rand/v2"
	"slices"
	"time"
)

// newPeerAge is how long a peer counts as new for the optimistic draw: new
// peers are three times as likely to be drawn, as in mainline and
// libtorrent, so they get their first pieces (and something to trade) soon.
const newPeerAge = 2 * time.Minute

// rotator holds the optimistic (free) slots: a few peers drawn at random
// among the eligible, kept for a period, then replaced by others.
type rotator struct {
	holders   []PeerID
	previous  []PeerID
	rotatedAt time.Time
	started   bool
	cand      []int
	weights   []int
}

// update draws the holders for this round and returns their indices in
// peers (appended to dst). eligible reports whether peers[i] may hold a
// slot; n is the number of slots.
func (r *rotator) update(now time.Time, period time.Duration, peers []PeerStat, eligible func(i int) bool, n int, rng *rand.Rand, dst []int) []int {
	if !r.started || now.Sub(r.rotatedAt) >= period {
		r.previous = append(r.previous[:0], r.holders...)
		r.holders = r.holders[:0]
		r.rotatedAt = now
		r.started = true
	}
	r.cand = r.cand[:0]
	for i := range peers {
		if eligible(i) {
			r.cand = append(r.cand, i)
		}
	}
	// Keep the holders that are still eligible, up to n.
	kept := r.holders[:0]
	for _, id := range r.holders {
		if len(kept) == n {
			break
		}
		for j, i := range r.cand {
			if peers[i].ID == id {
				kept = append(kept, id)
				dst = append(dst, i)
				r.cand[j] = r.cand[len(r.cand)-1]
				r.cand = r.cand[:len(r.cand)-1]
				break
			}
		}
	}
	r.holders = kept
	if len(r.holders) >= n || len(r.cand) == 0 {
		return dst
	}
	// Prefer peers that did not just hold a slot, so the slot rotates; fall
	// back to them only when nobody else is eligible.
	fresh := 0
	for j, i := range r.cand {
		if !slices.Contains(r.previous, peers[i].ID) {
			r.cand[fresh], r.cand[j] = r.cand[j], r.cand[fresh]
			fresh++
		}
	}
	pool := r.cand[:fresh]
	if fresh == 0 {
		pool = r.cand
	}
	for len(r.holders) < n && len(pool) > 0 {
		j := r.draw(now, peers, pool, rng)
		i := pool[j]
		r.holders = append(r.holders, peers[i].ID)
		dst = append(dst, i)
		pool[j] = pool[len(pool)-1]
		pool = pool[:len(pool)-1]
		if len(pool) == 0 && fresh > 0 && fresh < len(r.cand) && len(r.holders) < n {
			// Fresh peers exhausted: fill from the previous holders.
			pool = r.cand[fresh:]
			fresh = 0
		}
	}
	return dst
}

// draw picks an index into pool, new peers weighted three to one.
func (r *rotator) draw(now time.Time, peers []PeerStat, pool []int, rng *rand.Rand) int {
	total := 0
	r.weights = r.weights[:0]
	for _, i := range pool {
		w := 1
		if !peers[i].ConnectedAt.IsZero() && now.Sub(peers[i].ConnectedAt) < newPeerAge {
			w = 3
		}
		total += w
		r.weights = append(r.weights, w)
	}
	x := rng.IntN(total)
	for j, w := range r.weights {
		if x < w {
			return j
		}
		x -= w
	}
	return len(pool) - 1
}

// defaultRand is the generator a policy uses when its Config has none: a
// fixed seed, so a policy is deterministic unless the caller seeds it.
func defaultRand() *rand.Rand { return rand.New(rand.NewPCG(0x6274747370656564, 1)) }

// resize returns buf with length n, reusing its storage when it can.
func resize[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

// fillOutcomes writes the decision for every peer from its slot: Regular
// slots give the policy's reason, optimistic ones ReasonOptimistic,
// uninterested peers ReasonNotInterested, and the rest otherwise(i) (nil
// means ReasonOutranked).
func fillOutcomes(out []Outcome, peers []PeerStat, slot []Slot, regular Reason, otherwise func(i int) Reason) {
	for i, p := range peers {
		o := Outcome{ID: p.ID, Slot: slot[i], Unchoke: slot[i] != NoSlot}
		switch {
		case slot[i] == Regular:
			o.Reason = regular
		case slot[i] == Optimistic:
			o.Reason = ReasonOptimistic
		case !p.Interested:
			o.Reason = ReasonNotInterested
		case otherwise != nil:
			o.Reason = otherwise(i)
		default:
			o.Reason = ReasonOutranked
		}
		out[i] = o
	}
}
