package peer

import (
	"testing"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/piece"
)

// TestQueueBound: the messages queued for a peer that never reads are
// bounded; past the bound the peer is dropped with ErrSlowPeer.
func TestQueueBound(t *testing.T) {
	_, c := fuzzTorrent(t) // no writer runs: nothing is taken from the queue
	reject := msgBlock(pp.Reject, layoutBlock(0))
	n := 0
	for c.Err() == nil && n < 1_000_000 {
		c.send(reject)
		n++
	}
	require.ErrorIs(t, c.Err(), ErrSlowPeer)
	assert.Less(t, n*(len(reject)+queueItemCost), maxQueuedBytes+2*(len(reject)+queueItemCost), "dropped at the bound, after %d rejects", n)
	c.send(reject)
	assert.LessOrEqual(t, c.queuedMessageBytes(), maxQueuedBytes+len(reject)+queueItemCost, "nothing queued once closed")
}

// TestQueueBoundCountsWhatIsTaken: what the writer takes no longer counts.
func TestQueueBoundCountsWhatIsTaken(t *testing.T) {
	_, c := fuzzTorrent(t)
	msg := make([]byte, 1<<20)
	for i := 0; i < 10; i++ {
		c.send(msg)
		require.NoError(t, c.Err(), "message %d", i)
		assert.Len(t, c.takeBatch(nil), 1)
		assert.Zero(t, c.queuedMessageBytes())
	}
}

// TestMetadataAnswersThrottled: a peer with half the bound of messages
// waiting gets rejects instead of 16 KiB metadata pieces.
func TestMetadataAnswersThrottled(t *testing.T) {
	tor, c := fuzzTorrent(t)
	c.ls.metadataID = 3
	req, err := bencode.Marshal(map[string]any{"msg_type": 0, "piece": 0})
	require.NoError(t, err)
	c.send(make([]byte, maxQueuedBytes/2+1))
	require.NoError(t, tor.onMetadata(c, req))
	q := takeQueued(c)
	require.Len(t, q, 2)
	m, _ := metadataReply(t, q[1])
	assert.Equal(t, 2, m.Type, "rejected while the peer does not read")
	require.NoError(t, tor.onMetadata(c, req))
	q = takeQueued(c)
	require.Len(t, q, 1)
	m, _ = metadataReply(t, q[0])
	assert.Equal(t, 1, m.Type, "served once it reads")
}

func layoutBlock(i int) piece.Block { return piece.Block{Piece: i, Length: piece.BlockSize} }

// TestDuplicateHavesCountOnce: a peer that repeats a have does not come to
// look like a seed.
func TestDuplicateHavesCountOnce(t *testing.T) {
	tor, c := fuzzTorrent(t)
	tor.picker.AddPeer(piece.PeerID(c.id), piece.NewBitfield(tor.layout.NumPieces()))
	for i := 0; i < 10; i++ {
		require.NoError(t, tor.onHave(c, 0))
	}
	assert.Equal(t, 1, c.ls.have)
	assert.False(t, c.ls.seed)
	for i := 0; i < tor.layout.NumPieces(); i++ {
		require.NoError(t, tor.onHave(c, i))
	}
	assert.Equal(t, tor.layout.NumPieces(), c.ls.have)
	assert.True(t, c.ls.seed)
}
