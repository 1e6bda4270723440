package piece

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeclinedBounded_review28: what the ledger keeps of the pieces it
// declined a peer is bounded whatever the torrent's size. A trading peer
// (one announced piece we did not send it) asking once for every piece of
// a large torrent left an entry for each (some 40 bytes, with a pointer
// for the collector to scan): 4 MiB a connection for a torrent of 100,000
// pieces, for 17 bytes a request, kept until the peer leaves. A piece the
// peer announces is forgotten, so an honest trader, which fetches what we
// declined it from others, keeps being declined duplicates.
func TestDeclinedBounded_review28(t *testing.T) {
	const a, b PeerID = 1, 2
	const n = 20000
	const lone, trading = time.Second, 5 * time.Second
	l := Layout{PieceLength: BlockSize, Length: n * BlockSize}
	all := NewBitfield(n)
	all.SetAll()
	p, err := NewPicker(l, all, PickerConfig{})
	require.NoError(t, err)
	p.AddPeer(a, NewBitfield(n))
	p.AddPeer(b, NewBitfield(n))
	for i := range n {
		p.Served(a, i)
	}
	p.PeerHave(b, n-1) // b trades
	declined := 0
	for i := range n - 1 {
		if p.DeclineDuplicate(b, i, t0, lone, trading) {
			declined++
		}
	}
	assert.Positive(t, declined)
	assert.LessOrEqual(t, len(p.peers[b].declined), 1024, "entries kept for b")

	// b fetches elsewhere what it was declined, and is declined others.
	for i := range n - 1 {
		if _, ok := p.peers[b].declined[i]; ok {
			p.PeerHave(b, i)
		}
	}
	assert.Zero(t, len(p.peers[b].declined), "every piece b announced is forgotten")
	assert.True(t, p.DeclineDuplicate(b, n-2, t0, lone, trading), "b is declined duplicates still")
}
