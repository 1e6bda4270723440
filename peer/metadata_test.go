package peer

import (
	"testing"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// takeQueued returns the messages queued for the peer and empties the
// queue.
func takeQueued(c *conn) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]byte
	for _, it := range c.queue {
		if !it.serve {
			out = append(out, it.raw)
		}
	}
	c.queue = c.queue[:0]
	c.queuedBytes = 0
	return out
}

// metadataReply decodes a ut_metadata message we queued.
func metadataReply(t *testing.T, raw []byte) (metadataMsg, []byte) {
	t.Helper()
	require.Greater(t, len(raw), 6)
	require.Equal(t, byte(pp.Extended), raw[4])
	d := bencode.NewDecoder(bytesReader(raw[6:]))
	var m metadataMsg
	require.NoError(t, d.Decode(&m))
	return m, raw[6+d.Offset:]
}

// TestMetadataRequestPieceNumbers: requests for metadata pieces we do not
// have, however large or negative the number (a huge one times 16 KiB once
// overflowed into a negative slice bound and crashed the process), get a
// reject; the pieces we have are served.
func TestMetadataRequestPieceNumbers(t *testing.T) {
	tor, c := fuzzTorrent(t)
	c.ltep = true
	c.ls.metadataID = 3
	pieces := (len(tor.infoBytes) + metadataPiece - 1) / metadataPiece
	tests := []struct {
		piece int64
		want  int // msg_type: 1 data, 2 reject
	}{
		{0, 1},
		{int64(pieces - 1), 1},
		{int64(pieces), 2},
		{-1, 2},
		{1 << 49, 2}, // × 16 KiB = 2^63: overflows to a negative offset
		{1 << 50, 2}, // × 16 KiB = 2^64: overflows to 0
		{1<<62 + 1, 2},
	}
	for _, tc := range tests {
		p, err := bencode.Marshal(map[string]any{"msg_type": 0, "piece": tc.piece})
		require.NoError(t, err)
		require.NotPanics(t, func() { require.NoError(t, tor.onMetadata(c, p)) }, "piece %d", tc.piece)
		q := takeQueued(c)
		require.Len(t, q, 1, "piece %d: one answer", tc.piece)
		m, data := metadataReply(t, q[0])
		assert.Equal(t, tc.want, m.Type, "piece %d", tc.piece)
		if tc.want == 1 {
			assert.Equal(t, len(tor.infoBytes), m.TotalSize)
			assert.Equal(t, tor.infoBytes[int(tc.piece)*metadataPiece:min(len(tor.infoBytes), int(tc.piece+1)*metadataPiece)], data)
		}
	}
}
