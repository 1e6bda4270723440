package piece

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pieces(bs []Block) []int {
	var out []int
	for _, b := range bs {
		if len(out) == 0 || out[len(out)-1] != b.Piece {
			out = append(out, b.Piece)
		}
	}
	return out
}

func TestPriorityNoneNeverPicked(t *testing.T) {
	l := Layout{PieceLength: BlockSize, Length: 6 * BlockSize}
	p := newPicker(t, l, 1)
	for i := 0; i < 4; i++ {
		p.SetPriority(i, PriorityNone)
	}
	p.AddPeer(1, bf(6, 0, 1, 2, 3))
	assert.False(t, p.Interesting(1), "a peer with only unwanted pieces is not interesting")
	assert.Empty(t, p.Pick(1, 10, t0, nil))
	p.AddPeer(2, full(6))
	assert.True(t, p.Interesting(2))
	got := p.Pick(2, 10, t0, nil)
	assert.ElementsMatch(t, []int{4, 5}, pieces(got))
	assert.Equal(t, 2*int64(BlockSize), p.WantedLeft())
	assert.Equal(t, 6*int64(BlockSize), p.Left())
	for _, b := range got {
		require.True(t, p.Received(2, b).PieceDone)
		p.Verified(b.Piece, true)
	}
	assert.True(t, p.WantedComplete())
	assert.False(t, p.Complete())
	assert.False(t, p.Endgame(), "nothing wanted is left")
	// Wanting one again makes peer 1 interesting.
	p.SetPriority(2, PriorityNormal)
	assert.True(t, p.Interesting(1))
	assert.Equal(t, []int{2}, pieces(p.Pick(1, 10, t0, nil)))
}

func TestPriorityOrder(t *testing.T) {
	l := Layout{PieceLength: 2 * BlockSize, Length: 10 * 2 * BlockSize}
	p := newPicker(t, l, 1)
	p.AddPeer(1, full(10))
	p.AddPeer(2, bf(10, 0, 1, 2, 3, 4, 5, 6, 7)) // 8 and 9 are rarest
	p.SetPriority(6, PriorityHigh)
	p.SetPriority(4, PriorityReadahead)
	p.SetPriority(3, PriorityNow)
	p.SetPriority(5, PriorityReadahead)
	got := p.Pick(1, 8, t0, nil)
	assert.Equal(t, []int{3, 4, 5, 6}, pieces(got), "urgent pieces first, highest then lowest index")
	got = p.Pick(1, 2, t0, nil)
	assert.Len(t, pieces(got), 1)
	assert.Contains(t, []int{8, 9}, got[0].Piece, "then rarest first")
	// Lowering a priority reorders.
	p.SetPriority(7, PriorityNow)
	p.SetPriority(3, PriorityNormal)
	got = p.Pick(2, 2, t0, nil)
	assert.Equal(t, []int{7}, pieces(got))
}

func TestPriorityNowDuplicates(t *testing.T) {
	l := Layout{PieceLength: 2 * BlockSize, Length: 4 * 2 * BlockSize}
	p := newPicker(t, l, 1)
	p.AddPeer(1, full(4))
	p.AddPeer(2, full(4))
	p.SetPriority(1, PriorityNow)
	require.Equal(t, []int{1}, pieces(p.Pick(1, 2, t0, nil)))
	got := p.Pick(2, 3, t0, nil)
	require.Len(t, got, 3)
	assert.Equal(t, 1, got[0].Piece, "the piece under the reader is asked of a second peer")
	assert.Equal(t, 1, got[1].Piece)
	assert.NotEqual(t, 1, got[2].Piece)
	res := p.Received(2, got[0])
	assert.Equal(t, []Request{{Peer: 1, Block: got[0]}}, res.Cancel)
}

func TestSequential(t *testing.T) {
	l := Layout{PieceLength: BlockSize, Length: 8 * BlockSize}
	p := newPicker(t, l, 1)
	p.SetSequential(true)
	p.AddPeer(1, full(8))
	p.AddPeer(2, bf(8, 6, 7))
	assert.Equal(t, []int{0, 1, 2}, pieces(p.Pick(1, 3, t0, nil)))
	assert.Equal(t, []int{6}, pieces(p.Pick(2, 1, t0, nil)))
	// A failed piece goes back in order.
	require.True(t, p.Received(1, Block{Piece: 0, Length: BlockSize}).PieceDone)
	p.Verified(0, false)
	p.AddPeer(3, full(8))
	assert.Equal(t, []int{0, 3}, pieces(p.Pick(3, 2, t0, nil)))
}

// TestPriorityInvariants runs random operations, priority changes among
// them, and checks the counts the picker keeps against a recount.
func TestPriorityInvariants(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		l := Layout{PieceLength: 4 * BlockSize, Length: int64(20+rng.IntN(40)) * BlockSize}
		n := l.NumPieces()
		p := newPicker(t, l, seed)
		now := t0
		var inflight []Request
		for step := 0; step < 400; step++ {
			id := PeerID(1 + rng.IntN(4))
			switch op := rng.IntN(12); {
			case op == 0:
				b := NewBitfield(n)
				for i := 0; i < n; i++ {
					if rng.IntN(2) == 0 {
						b.Set(i)
					}
				}
				p.AddPeer(id, b)
			case op == 1:
				p.PeerHave(id, rng.IntN(n))
			case op == 2:
				p.SetSequential(rng.IntN(2) == 0)
			case op < 5:
				p.SetPriority(rng.IntN(n), Priority(rng.IntN(6)))
			case op < 8:
				for _, b := range p.Pick(id, 1+rng.IntN(8), now, nil) {
					assert.NotEqual(t, PriorityNone, p.Priority(b.Piece), "picked an unwanted piece")
					assert.False(t, p.HasPiece(b.Piece))
					inflight = append(inflight, Request{id, b})
				}
			case op < 11 && len(inflight) > 0:
				k := rng.IntN(len(inflight))
				r := inflight[k]
				inflight = append(inflight[:k], inflight[k+1:]...)
				res := p.Received(r.Peer, r.Block)
				for _, c := range res.Cancel {
					inflight = filter(inflight, func(x Request) bool { return x != c })
				}
				if res.PieceDone {
					p.Verified(r.Block.Piece, rng.IntN(5) != 0)
				}
			default:
				now = now.Add(40 * time.Second)
				for _, r := range p.Expire(now, nil) {
					inflight = filter(inflight, func(x Request) bool { return x != r })
				}
			}
			var wantedLeft, unrequested int64
			for i := 0; i < n; i++ {
				if p.HasPiece(i) || p.prio[i] == PriorityNone {
					continue
				}
				wantedLeft += l.PieceSize(i)
				pc := p.partials[i]
				switch {
				case pc == nil:
					assert.GreaterOrEqual(t, p.pos[i], int32(0), "seed %d step %d: wanted piece %d in no bucket", seed, step, i)
					unrequested += int64(l.NumBlocks(i))
				case !pc.hashing:
					for _, st := range pc.state {
						if st == blockPending {
							unrequested++
						}
					}
				}
			}
			require.Equal(t, wantedLeft, p.WantedLeft(), "seed %d step %d", seed, step)
			require.Equal(t, unrequested, p.unrequested, "seed %d step %d", seed, step)
			for pid, ps := range p.peers {
				w := 0
				ps.has.Each(func(i int) { w += btoi(p.wants(i)) })
				require.Equal(t, w, ps.wanted, "seed %d step %d peer %d", seed, step, pid)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
