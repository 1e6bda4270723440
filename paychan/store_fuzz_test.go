package paychan

import (
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
