package speed

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/piece"
)

const (
	kib       = 1 << 10
	pieceSize = 256 * kib
)

func blk(p int, begin uint32) piece.Block {
	return piece.Block{Piece: p, Begin: begin, Length: piece.BlockSize}
}

func never(int) bool { return false }

func sizeOf(int) int64 { return pieceSize }

func TestGateAdmit(t *testing.T) {
	type step struct {
		b      piece.Block
		unpaid int64
		want   bool
	}
	tests := []struct {
		name     string
		window   int64
		capacity int64 // what the channel's deposit can still pay, in bytes
		steps    []step
	}{
		{"a window smaller than a piece still moves one piece at a time", 64 * kib, maxBytes, []step{
			{blk(0, 0), 0, true},               // nothing outstanding: begin piece 0
			{blk(1, 0), 0, false},              // piece 0 is reserved: no second piece
			{blk(0, piece.BlockSize), 0, true}, // blocks of a piece begun always go
		}},
		{"pieces begin while they fit in the window", 512 * kib, maxBytes, []step{
			{blk(0, 0), 0, true},
			{blk(1, 0), 0, true},  // 2 pieces = 512 KiB: fits
			{blk(2, 0), 0, false}, // a third would not
		}},
		{"unpaid bytes count against the window", 512 * kib, maxBytes, []step{
			{blk(0, 0), 300 * kib, false}, // 300 + 256 > 512
			{blk(0, 0), 256 * kib, true},  // 256 + 256 fits
		}},
		{"with nothing outstanding any piece may begin", 16 * kib, maxBytes, []step{
			{blk(5, 0), 0, true},
		}},
		// Issue 23, case 5: a deposit of one base unit was served 1 MiB
		// at one unit a byte.
		{"a deposit that cannot pay for a piece gets none, even with nothing outstanding", 1 << 20, pieceSize - 1, []step{
			{blk(0, 0), 0, false},
		}},
		{"the deposit bounds a window larger than it", 1 << 20, 2 * pieceSize, []step{
			{blk(0, 0), 0, true},
			{blk(1, 0), 0, true},
			{blk(2, 0), 0, false}, // the window has room; the deposit has not
		}},
		{"the debt counts against the deposit", 1 << 20, 2 * pieceSize, []step{
			{blk(0, 0), pieceSize + 1, false},
			{blk(0, 0), pieceSize, true},
		}},
		{"credited ahead of the bytes counted, a payer may use it", 64 * kib, pieceSize, []step{
			{blk(0, 0), -pieceSize, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g gate
			for i, s := range tt.steps {
				assert.Equal(t, s.want, g.admit(s.b, pieceSize, s.unpaid, tt.window, tt.capacity, never, sizeOf), "step %d: %+v", i, s.b)
			}
		})
	}
}

func TestGateDropsPiecesThePayerGotElsewhere(t *testing.T) {
	var g gate
	require.True(t, g.admit(blk(0, 0), pieceSize, 0, pieceSize, maxBytes, never, sizeOf))
	// Piece 0 is reserved: piece 1 waits...
	require.False(t, g.admit(blk(1, 0), pieceSize, 0, pieceSize, maxBytes, never, sizeOf))
	// ...until the payer has piece 0 from someone else: its reservation
	// ends (what was admitted stays queued until sent).
	g.sent = g.admitted
	has := func(i int) bool { return i == 0 }
	assert.True(t, g.admit(blk(1, 0), pieceSize, 0, pieceSize, maxBytes, has, sizeOf))
	assert.Equal(t, int64(pieceSize-piece.BlockSize), g.reserved)
}

// TestGateBound: whatever a payer asks for, in whatever order, if it stops
// paying it is served at most max(window, one piece) unpaid, and never
// more than its channel's capacity.
func TestGateBound(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		window := int64(r.IntN(8)+1) * 64 * kib
		capacity := int64(maxBytes)
		if seed%2 == 0 {
			capacity = int64(r.IntN(1<<20)) + pieceSize
		}
		var g gate
		var unpaid int64
		blocks := pieceSize / piece.BlockSize
		for range 5000 {
			p := r.IntN(64)
			b := blk(p, uint32(r.IntN(int(blocks)))*piece.BlockSize)
			if g.admit(b, pieceSize, unpaid, window, capacity, never, sizeOf) {
				// Sent at once; the payer never pays.
				g.sent += int64(b.Length)
				unpaid += int64(b.Length)
			}
		}
		assert.LessOrEqual(t, unpaid, max(window, pieceSize), "seed %d, window %d", seed, window)
		assert.LessOrEqual(t, unpaid, capacity, "seed %d, capacity %d", seed, capacity)
		assert.Positive(t, unpaid, "seed %d: the payer got nothing at all", seed)
	}
}
