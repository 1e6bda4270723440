package piece

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func BenchmarkPick(b *testing.B) {
	for _, pieces := range []int{4096, 65536} {
		b.Run(fmt.Sprintf("pieces=%d/peers=50", pieces), func(b *testing.B) {
			l := Layout{PieceLength: 256 << 10, Length: int64(pieces) * (256 << 10)}
			rng := rand.New(rand.NewPCG(1, 2))
			p, err := NewPicker(l, NewBitfield(pieces), PickerConfig{Rand: rng})
			if err != nil {
				b.Fatal(err)
			}
			for id := PeerID(1); id <= 50; id++ {
				has := NewBitfield(pieces)
				for i := 0; i < pieces; i++ {
					if rng.IntN(2) == 0 {
						has.Set(i)
					}
				}
				p.AddPeer(id, has)
			}
			var dst []Block
			id := PeerID(1)
			b.ReportAllocs()
			for b.Loop() {
				// Pick 16 blocks, deliver them, verify finished pieces.
				dst = p.Pick(id, 16, t0, dst[:0])
				for _, blk := range dst {
					if p.Received(id, blk).PieceDone {
						p.Verified(blk.Piece, true)
					}
				}
				if p.Complete() {
					b.StopTimer()
					p, _ = NewPicker(l, NewBitfield(pieces), PickerConfig{Rand: rng})
					for q := PeerID(1); q <= 50; q++ {
						p.AddPeer(q, full(pieces))
					}
					b.StartTimer()
				}
				id = id%50 + 1
			}
		})
	}
}

func BenchmarkExpire(b *testing.B) {
	l := Layout{PieceLength: 256 << 10, Length: 4096 * (256 << 10)}
	p, _ := NewPicker(l, NewBitfield(4096), PickerConfig{})
	for id := PeerID(1); id <= 10; id++ {
		p.AddPeer(id, full(4096))
		p.Pick(id, 500, t0, nil)
	}
	var dst []Request
	b.ReportAllocs()
	for b.Loop() {
		dst = p.Expire(t0.Add(time.Second), dst[:0])
	}
}
