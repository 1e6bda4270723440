package speed

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPayNow: a payer pays when the seeder's count of what it is owed —
// the pieces verified and due, and the blocks asked for and not received —
// comes to half the window; and at once when the torrent is complete.
func TestPayNow(t *testing.T) {
	const (
		piece = 256 << 10
		mib   = 1 << 20
		big   = 1 << 30 // left: far more than any window here
	)
	for _, tc := range []struct {
		name                         string
		due, requested, left, credit int64
		want                         bool
	}{
		{name: "first piece, 256 KiB window", due: piece, left: big, credit: piece, want: true},
		{name: "first piece, nothing asked for", due: piece, left: big, credit: 16 * mib, want: false},
		{name: "half the window due", due: 8 * mib, left: big, credit: 16 * mib, want: true},
		{name: "just under half due", due: 8*mib - 1, left: big, credit: 16 * mib, want: false},
		// 8 MiB in flight (the pipeline's 500 blocks): the seeder is at
		// its 16 MiB window as 8 MiB comes due; pay at 4 MiB.
		{name: "requested counts: 4 MiB due, 4 MiB asked for", due: 4 * mib, requested: 4 * mib, left: big, credit: 16 * mib, want: true},
		{name: "requested counts: 3 MiB due, 4 MiB asked for", due: 3 * mib, requested: 4 * mib, left: big, credit: 16 * mib, want: false},
		{name: "a slow transfer in a 256 MiB window", due: 4 * mib, requested: mib, left: big, credit: 256 * mib, want: false},
		{name: "half due, a small torrent", due: 128 * mib, left: mib, credit: 256 * mib, want: true},
		{name: "complete", due: piece, left: 0, credit: 256 * mib, want: true},
		{name: "complete, a huge window", due: piece, left: 0, credit: 1 << 40, want: true},
		{name: "no award yet", due: piece, left: big, credit: 0, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, payNow(tc.due, tc.requested, tc.left, tc.credit))
		})
	}
}
