package paychan

import (
	"bytes"
	"testing"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// FuzzStoreRecord feeds arbitrary bytes to the store's record decoders:
// they come from disk, so a corrupt file must give an error, never a panic.
func FuzzStoreRecord(f *testing.F) {
	id := ChannelID{1}
	good, _ := encodePayee(PayeeRecord{Channel: Channel{ID: id, Deposit: btt.NewAmount(5), Expiry: time.Unix(1, 0), State: ChannelOpen}})
	f.Add(good)
	f.Add([]byte(`{"channel":{"id":"01","state":9}}`))
	f.Add([]byte(`{"channel":{"deposit":"-1"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodePayee(id, b); err == nil {
			if _, err := encodePayee(r); err != nil {
				t.Fatalf("decoded record does not encode: %v", err)
			}
		}
		_, _ = decodePayer(id, b)
	})
}

// FuzzPieceBitmap feeds arbitrary bytes to the piece lists' bitmap
// reader, as a corrupt store would: the pieces it yields are increasing,
// within the chunk, and set again they give back the same bitmap (less
// trailing zero bytes).
func FuzzPieceBitmap(f *testing.F) {
	f.Add(uint32(0), []byte{0x01})
	f.Add(uint32(3), []byte{0x80, 0x00, 0xff})
	f.Add(uint32(1<<18-1), []byte{})
	f.Fuzz(func(t *testing.T, chunk uint32, bm []byte) {
		if len(bm) > chunkPieces/8 || chunk > maxPiece/chunkPieces {
			return // refused by scanPieceSets (TestLegacyPieceLists) and pieceSet.bitmap
		}
		var back []byte
		last := -1
		eachPiece(chunk, bm, func(i int) {
			if i <= last || i < int(chunk)*chunkPieces || i >= int(chunk+1)*chunkPieces || i > maxPiece {
				t.Fatalf("piece %d after %d in chunk %d", i, last, chunk)
			}
			last = i
			back = setBit(back, i-int(chunk)*chunkPieces)
		})
		trimmed := bm
		for len(trimmed) > 0 && trimmed[len(trimmed)-1] == 0 {
			trimmed = trimmed[:len(trimmed)-1]
		}
		if !bytes.Equal(back, trimmed) {
			t.Fatalf("bitmap %x read back as %x", bm, back)
		}
	})
}
