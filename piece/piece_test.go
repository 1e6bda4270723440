package piece

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestBitfieldWire(t *testing.T) {
	tests := []struct {
		name    string
		wire    []byte
		n       int
		want    []int
		wantErr error
	}{
		{"empty", []byte{}, 0, nil, nil},
		{"first and last", []byte{0x80, 0x01}, 16, []int{0, 15}, nil},
		{"short tail", []byte{0xff, 0xe0}, 11, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, nil},
		{"spare bit set", []byte{0xff, 0xf0}, 11, nil, ErrSpareBits},
		{"too short", []byte{0xff}, 11, nil, ErrBitfieldLength},
		{"too long", []byte{0xff, 0, 0}, 11, nil, ErrBitfieldLength},
		{"negative", nil, -1, nil, ErrBitfieldLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bf, err := BitfieldFromWire(tc.wire, tc.n)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var got []int
			bf.Each(func(i int) { got = append(got, i) })
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wire, bf.Bytes())
			assert.Equal(t, len(tc.want), bf.Count())
		})
	}
}

func TestBitfieldOps(t *testing.T) {
	b := NewBitfield(70)
	assert.True(t, b.None())
	b.Set(0)
	b.Set(69)
	b.Set(70) // out of range: ignored
	b.Set(-1)
	assert.Equal(t, 2, b.Count())
	assert.True(t, b.Has(69))
	assert.False(t, b.Has(70))
	c := b.Clone()
	c.Clear(0)
	assert.True(t, b.Has(0), "clone is independent")
	b.SetAll()
	assert.True(t, b.All())
	assert.Equal(t, 70, b.Count())
	assert.Equal(t, 70, b.Len())
}

func TestLayout(t *testing.T) {
	l := Layout{PieceLength: 40000, Length: 100000}
	assert.Equal(t, 3, l.NumPieces())
	assert.Equal(t, int64(40000), l.PieceSize(0))
	assert.Equal(t, int64(20000), l.PieceSize(2))
	assert.Equal(t, int64(0), l.PieceSize(3))
	assert.Equal(t, 3, l.NumBlocks(0))
	assert.Equal(t, 2, l.NumBlocks(2))
	assert.Equal(t, Block{Piece: 0, Begin: 32768, Length: 40000 - 32768}, l.Block(0, 2))
	assert.Equal(t, Block{Piece: 2, Begin: 16384, Length: 20000 - 16384}, l.Block(2, 1))
	tests := []struct {
		b     Block
		valid bool
	}{
		{Block{0, 0, BlockSize}, true},
		{Block{0, 32768, 40000 - 32768}, true},
		{Block{0, 32768, BlockSize}, false}, // past the piece
		{Block{0, 100, BlockSize}, false},   // unaligned
		{Block{0, 0, 100}, false},           // short, not last
		{Block{3, 0, BlockSize}, false},     // no such piece
		{Block{-1, 0, BlockSize}, false},
		{Block{2, 16384, 20000 - 16384}, true},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.valid, l.Valid(tc.b), "%+v", tc.b)
	}
	assert.True(t, l.InRange(Block{0, 100, 200}))
	assert.False(t, l.InRange(Block{0, 39990, 200}))
	assert.Equal(t, int64(80000+16384), l.Offset(Block{2, 16384, 10}))
}

func newPicker(t *testing.T, l Layout, seed uint64) *Picker {
	t.Helper()
	p, err := NewPicker(l, NewBitfield(l.NumPieces()), PickerConfig{Rand: rand.New(rand.NewPCG(seed, 1))})
	require.NoError(t, err)
	return p
}

func full(n int) Bitfield { b := NewBitfield(n); b.SetAll(); return b }

func bf(n int, set ...int) Bitfield {
	b := NewBitfield(n)
	for _, i := range set {
		b.Set(i)
	}
	return b
}

func TestPickerRarestFirst(t *testing.T) {
	l := Layout{PieceLength: BlockSize, Length: 8 * BlockSize} // 8 one-block pieces
	p := newPicker(t, l, 1)
	p.AddPeer(1, full(8))
	p.AddPeer(2, bf(8, 0, 1, 2, 3, 4, 5))
	p.AddPeer(3, bf(8, 0, 1, 2, 3))
	// Availability: 0-3 → 3, 4-5 → 2, 6-7 → 1. Peer 1 picks 6 and 7 first.
	got := p.Pick(1, 2, t0, nil)
	require.Len(t, got, 2)
	assert.ElementsMatch(t, []int{6, 7}, []int{got[0].Piece, got[1].Piece})
	got = p.Pick(1, 2, t0, nil)
	assert.ElementsMatch(t, []int{4, 5}, []int{got[0].Piece, got[1].Piece})
	// Peer 3 only has 0-3.
	got = p.Pick(3, 10, t0, nil)
	assert.Len(t, got, 4)
	for _, b := range got {
		assert.Less(t, b.Piece, 4)
	}
	assert.Empty(t, p.Pick(3, 10, t0, nil), "nothing left for peer 3")
}

func TestPickerRandomTieBreak(t *testing.T) {
	l := Layout{PieceLength: BlockSize, Length: 64 * BlockSize}
	firsts := map[int]bool{}
	for seed := uint64(0); seed < 20; seed++ {
		p := newPicker(t, l, seed)
		p.AddPeer(1, full(64))
		firsts[p.Pick(1, 1, t0, nil)[0].Piece] = true
	}
	assert.Greater(t, len(firsts), 5, "equally rare pieces are drawn at random")
	// Same seed, same picks.
	a, b := newPicker(t, l, 9), newPicker(t, l, 9)
	a.AddPeer(1, full(64))
	b.AddPeer(1, full(64))
	assert.Equal(t, a.Pick(1, 20, t0, nil), b.Pick(1, 20, t0, nil))
}

func TestPickerPartialFirst(t *testing.T) {
	l := Layout{PieceLength: 4 * BlockSize, Length: 16 * BlockSize} // 4 pieces of 4 blocks
	p := newPicker(t, l, 1)
	p.AddPeer(1, full(4))
	p.AddPeer(2, full(4))
	first := p.Pick(1, 2, t0, nil) // starts a piece, 2 of its 4 blocks
	require.Len(t, first, 2)
	got := p.Pick(2, 2, t0, nil)
	for _, b := range got {
		assert.Equal(t, first[0].Piece, b.Piece, "the started piece is finished first")
	}
}

func TestPickerReceiveVerify(t *testing.T) {
	l := Layout{PieceLength: 2 * BlockSize, Length: 4 * BlockSize}
	p := newPicker(t, l, 1)
	p.AddPeer(1, full(2))
	assert.True(t, p.Interesting(1))
	reqs := p.Pick(1, 4, t0, nil)
	require.Len(t, reqs, 4)
	assert.Equal(t, 4, p.InFlight(1))
	// An unrequested block (from a peer not asked) is not wanted.
	p.AddPeer(2, full(2))
	assert.False(t, p.Received(2, reqs[0]).Wanted)
	r := p.Received(1, reqs[0])
	assert.True(t, r.Wanted)
	assert.False(t, r.PieceDone)
	assert.False(t, p.Received(1, reqs[0]).Wanted, "duplicate")
	var done []int
	for _, b := range reqs[1:] {
		if p.Received(1, b).PieceDone {
			done = append(done, b.Piece)
		}
	}
	assert.Len(t, done, 2)
	assert.Equal(t, 0, p.InFlight(1))
	for _, i := range done {
		charged, banned := p.Verified(i, true)
		assert.Empty(t, charged)
		assert.Empty(t, banned)
	}
	assert.True(t, p.Complete())
	assert.Equal(t, int64(0), p.Left())
	assert.False(t, p.Interesting(1))
	assert.Empty(t, p.Pick(1, 4, t0, nil))
}

// deliver picks and receives every block of the 2-block piece 0, block j
// from senders[j], and reports whether the piece is done.
func deliver(t *testing.T, p *Picker, senders ...PeerID) {
	t.Helper()
	for j, id := range senders {
		got := p.Pick(id, 1, t0, nil)
		require.Len(t, got, 1, "pick for peer %d", id)
		r := p.Received(id, got[0])
		require.True(t, r.Wanted)
		require.Equal(t, j == len(senders)-1, r.PieceDone)
	}
}

func TestPickerHashFailure(t *testing.T) {
	l := Layout{PieceLength: 2 * BlockSize, Length: 2 * BlockSize}
	good := [][20]byte{{1}, {2}}
	t.Run("mixed failure charges, bans nobody", func(t *testing.T) {
		p := newPicker(t, l, 1)
		p.AddPeer(1, full(1))
		p.AddPeer(2, full(1))
		deliver(t, p, 1, 2)
		charged, banned := p.Verified(0, false)
		assert.ElementsMatch(t, []PeerID{1, 2}, charged)
		assert.Empty(t, banned)
		assert.False(t, p.Complete())
		assert.Equal(t, int64(2*BlockSize), p.Left(), "the piece is fetched again")
		assert.True(t, p.NeedsBlockHashes(0))
	})
	t.Run("a sole sender of a bad piece is banned", func(t *testing.T) {
		p := newPicker(t, l, 1)
		p.AddPeer(1, full(1))
		p.AddPeer(3, full(1))
		deliver(t, p, 1, 1)
		_, banned := p.Verified(0, false)
		assert.Equal(t, []PeerID{1}, banned)
		assert.True(t, p.Banned(1))
		assert.Empty(t, p.Pick(1, 5, t0, nil), "banned peers get no requests")
		assert.Len(t, p.Pick(3, 5, t0, nil), 2, "an honest peer can still fetch it")
	})
	t.Run("smart ban finds the liar among mixed senders", func(t *testing.T) {
		p := newPicker(t, l, 1)
		p.AddPeer(1, full(1))
		p.AddPeer(2, full(1))
		p.AddPeer(3, full(1))
		deliver(t, p, 1, 2) // peer 2 lied about block 1
		_, banned := p.VerifiedBlocks(0, false, [][20]byte{good[0], {0xba, 0xd}})
		assert.Empty(t, banned)
		deliver(t, p, 3, 1)
		_, banned = p.VerifiedBlocks(0, true, good)
		assert.Equal(t, []PeerID{2}, banned)
		assert.False(t, p.Banned(1))
		assert.False(t, p.Banned(3))
		assert.True(t, p.Complete())
		assert.False(t, p.NeedsBlockHashes(0))
	})
}

func TestPickerEndgame(t *testing.T) {
	l := Layout{PieceLength: 2 * BlockSize, Length: 2 * BlockSize}
	p := newPicker(t, l, 1)
	p.AddPeer(1, full(1))
	p.AddPeer(2, full(1))
	p.AddPeer(3, full(1))
	a := p.Pick(1, 5, t0, nil)
	require.Len(t, a, 2)
	assert.True(t, p.Endgame())
	b := p.Pick(2, 5, t0, nil)
	assert.Len(t, b, 2, "endgame duplicates the blocks in flight")
	assert.Empty(t, p.Pick(3, 5, t0, nil), "at most 2 peers per block")
	r := p.Received(2, b[0])
	require.True(t, r.Wanted)
	assert.Equal(t, []Request{{Peer: 1, Block: b[0]}}, r.Cancel)
	assert.False(t, p.Received(1, b[0]).Wanted, "the cancelled copy is not wanted")
	assert.Equal(t, 1, p.InFlight(1))
	assert.Equal(t, 1, p.InFlight(2))
}

func TestPickerTimeoutsAndRejects(t *testing.T) {
	l := Layout{PieceLength: 2 * BlockSize, Length: 4 * BlockSize}
	p := newPicker(t, l, 1)
	p.AddPeer(1, full(2))
	p.AddPeer(2, full(2))
	reqs := p.Pick(1, 2, t0, nil)
	require.Len(t, reqs, 2)
	assert.Empty(t, p.Expire(t0.Add(29*time.Second), nil))
	exp := p.Expire(t0.Add(30*time.Second), nil)
	assert.Len(t, exp, 2)
	assert.Equal(t, 0, p.InFlight(1))
	again := p.Pick(2, 2, t0, nil)
	assert.ElementsMatch(t, reqs, again, "expired blocks are requested again")
	p.Rejected(2, again[0])
	assert.Equal(t, 1, p.InFlight(2))
	assert.Equal(t, []Block{again[0]}, p.Pick(1, 1, t0, nil))
	lost := p.RemovePeer(2)
	assert.Equal(t, []Block{again[1]}, lost)
	assert.Equal(t, []Block{again[1]}, p.Pick(1, 1, t0, nil))
	assert.Equal(t, 0, p.Availability(0)-1, "peer 2's availability is gone")
}

func TestPickerConfigErrors(t *testing.T) {
	l := Layout{PieceLength: BlockSize, Length: BlockSize}
	_, err := NewPicker(l, NewBitfield(2), PickerConfig{})
	assert.ErrorIs(t, err, ErrPickerConfig)
	_, err = NewPicker(l, NewBitfield(1), PickerConfig{RequestTimeout: -1})
	assert.ErrorIs(t, err, ErrPickerConfig)
}

// TestPickerInvariants runs random operations and checks that no block is
// in flight to a peer that lacks its piece, in-flight counts match, and Left
// equals the size of the pieces we lack.
func TestPickerInvariants(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		l := Layout{PieceLength: 4 * BlockSize, Length: int64(20+rng.IntN(40)) * BlockSize}
		n := l.NumPieces()
		p := newPicker(t, l, seed)
		now := t0
		var inflight []Request
		for step := 0; step < 400; step++ {
			id := PeerID(1 + rng.IntN(5))
			switch op := rng.IntN(10); {
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
				p.RemovePeer(id)
				inflight = filter(inflight, func(r Request) bool { return r.Peer != id })
			case op < 6:
				for _, b := range p.Pick(id, 1+rng.IntN(8), now, nil) {
					assert.True(t, p.peers[id].has.Has(b.Piece), "picked a piece the peer lacks")
					assert.False(t, p.HasPiece(b.Piece), "picked a piece we have")
					inflight = append(inflight, Request{id, b})
				}
			case op < 9 && len(inflight) > 0:
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
				now = now.Add(10 * time.Second)
				for _, r := range p.Expire(now, nil) {
					inflight = filter(inflight, func(x Request) bool { return x != r })
				}
			}
			// Invariants.
			counts := map[PeerID]int{}
			for _, i := range p.partialList {
				for _, o := range p.partials[i].owners {
					for _, x := range o {
						counts[x.peer]++
						ps := p.peers[x.peer]
						require.NotNil(t, ps)
						assert.True(t, ps.has.Has(i))
					}
				}
			}
			for id, ps := range p.peers {
				assert.Equal(t, counts[id], ps.inflight, "seed %d step %d peer %d", seed, step, id)
			}
			var left int64
			for i := 0; i < n; i++ {
				if !p.HasPiece(i) {
					left += l.PieceSize(i)
				}
			}
			assert.Equal(t, left, p.Left())
		}
	}
}

func filter(rs []Request, keep func(Request) bool) []Request {
	out := rs[:0]
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func FuzzBitfieldFromWire(f *testing.F) {
	f.Add([]byte{0xff, 0x80}, 9)
	f.Add([]byte{}, 0)
	f.Add([]byte{0x01}, 8)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n > 1<<20 {
			return
		}
		bf, err := BitfieldFromWire(b, n)
		if err != nil {
			return
		}
		if string(bf.Bytes()) != string(b) {
			t.Fatalf("round trip: %x -> %x", b, bf.Bytes())
		}
	})
}

func TestPickerAbandon(t *testing.T) {
	l := Layout{PieceLength: 2 * BlockSize, Length: 4 * BlockSize}
	p := newPicker(t, l, 1)
	p.AddPeer(1, full(2))
	reqs := p.Pick(1, 3, t0, nil)
	require.Len(t, reqs, 3)
	assert.ElementsMatch(t, reqs, p.Abandon(1))
	assert.Equal(t, 0, p.InFlight(1))
	assert.Nil(t, p.Abandon(1))
	assert.ElementsMatch(t, reqs, p.Pick(1, 3, t0, nil), "abandoned blocks are requested again")
}

func TestPickerExtentAffinity(t *testing.T) {
	l := Layout{PieceLength: BlockSize, Length: 64 * BlockSize}
	p := newPicker(t, l, 3)
	p.AddPeer(1, full(64))
	first := p.Pick(1, 1, t0, nil)[0].Piece
	for k := 1; k < 5 && first+k < 64; k++ {
		assert.Equal(t, first+k, p.Pick(1, 1, t0, nil)[0].Piece, "equally rare: the next piece in the file")
	}
	// Rarity still wins over affinity.
	q := newPicker(t, l, 3)
	q.AddPeer(1, full(64))
	q.AddPeer(2, bf(64, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31))
	for k := 0; k < 10; k++ {
		assert.GreaterOrEqual(t, q.Pick(1, 1, t0, nil)[0].Piece, 32, "pieces only peer 1 has are rarer")
	}
}
