package piece_test

import (
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/piece"
)

// The picker's flow as a torrent loop drives it: learn what peers have,
// pick requests, record arrivals, verify finished pieces.
func ExamplePicker() {
	l := piece.Layout{PieceLength: 2 * piece.BlockSize, Length: 3 * piece.BlockSize} // 2 pieces, 3 blocks
	p, err := piece.NewPicker(l, piece.NewBitfield(l.NumPieces()), piece.PickerConfig{})
	if err != nil {
		panic(err)
	}
	seeder := piece.NewBitfield(2)
	seeder.SetAll()
	p.AddPeer(1, seeder)

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reqs := p.Pick(1, 10, now, nil)
	fmt.Println("requests:", len(reqs))
	for _, b := range reqs {
		if r := p.Received(1, b); r.PieceDone {
			// Hash the piece (Storage.VerifyPiece), then report it.
			p.Verified(b.Piece, true)
			fmt.Println("piece", b.Piece, "done")
		}
	}
	fmt.Println("complete:", p.Complete())
	// Unordered output:
	// requests: 3
	// piece 0 done
	// piece 1 done
	// complete: true
}
