package speed

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPayNow: a payer pays when its count of what the seeder is owed comes
// to half the window, and at once when the torrent is complete.
func TestPayNow(t *testing.T) {
	const (
		piece = 256 << 10
		mib   = 1 << 20
		big   = 1 << 30 // left: far more than any window here
	)
	for _, tc := range []struct {
		name                 string
		unpaid, left, credit int64
		want                 bool
	}{
		{name: "first piece, 256 KiB window", unpaid: piece, left: big, credit: piece, want: true},
		{name: "first piece, 16 MiB window", unpaid: piece, left: big, credit: 16 * mib, want: false},
		{name: "half the window", unpaid: 8 * mib, left: big, credit: 16 * mib, want: true},
		{name: "just under half", unpaid: 8*mib - 1, left: big, credit: 16 * mib, want: false},
		{name: "a slow transfer in a 256 MiB window", unpaid: 5 * mib, left: big, credit: 256 * mib, want: false},
		{name: "half, a small torrent", unpaid: 128 * mib, left: mib, credit: 256 * mib, want: true},
		{name: "complete", unpaid: piece, left: 0, credit: 256 * mib, want: true},
		{name: "complete, a huge window", unpaid: piece, left: 0, credit: 1 << 40, want: true},
		{name: "no award yet", unpaid: piece, left: big, credit: 0, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, payNow(tc.unpaid, tc.left, tc.credit))
		})
	}
}

// TestSellerUnpaid: the payer's count of what the seeder is owed is what
// came since it won the slot and is not paid for — verified or not — plus
// what it asked for and has not received, and never less than the pieces
// due plus that.
func TestSellerUnpaid(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name                       string
		downloaded, requested      int64 // the connection's figures now
		winDown, winBought, bought int64 // at the win, and bought since the connection began
		due                        int64
		want                       int64
	}{
		{name: "nothing yet", want: 0},
		{name: "asked for, nothing came", requested: 8 * mib, want: 8 * mib},
		// The seeder sent 7 MiB and counts it, and may have sent the 5
		// MiB asked for: 3 MiB verified and due, 4 MiB not verified yet.
		{name: "received and not verified counts", downloaded: 7 * mib, requested: 5 * mib, due: 3 * mib, want: 12 * mib},
		{name: "paid for counts out", downloaded: 7 * mib, requested: 5 * mib, bought: 6 * mib, due: mib, want: 6 * mib},
		{name: "what came free before the win counts out", downloaded: 7 * mib, winDown: 4 * mib, requested: mib, due: mib, want: 4 * mib},
		{name: "what was bought before the win counts out", downloaded: 7 * mib, winDown: 4 * mib, winBought: 2 * mib, bought: 3 * mib, want: 2 * mib},
		// A piece partly received before the win and paid for whole
		// after it: never below what is due.
		{name: "never below due", downloaded: 5 * mib, winDown: 4 * mib, bought: 2 * mib, due: mib, requested: mib, want: 2 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &handler{
				p:   &fakePeer{downloaded: tc.downloaded, requested: tc.requested},
				buy: &buyState{winDown: tc.winDown, winBought: tc.winBought, bought: tc.bought, dueBytes: tc.due},
			}
			assert.Equal(t, tc.want, h.sellerUnpaid())
		})
	}
}
