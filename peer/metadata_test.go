package peer

import (
	"bytes"
	"crypto/sha1"
	"net"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/choker"
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
	d := bencode.NewDecoder(bytes.NewReader(raw[6:]))
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

// metadataTorrent is a torrent from a magnet link, without its info, and
// two peers offering the metadata: a liar claiming 40,000 bytes (id 1,
// asked first) and an honest peer (id 2). No loop runs.
func metadataTorrent(t *testing.T) (tor *Torrent, info []byte, liar, honest *conn) {
	src, _ := fuzzTorrent(t)
	info = src.infoBytes
	cl, err := NewClient(Config{NoListen: true, RequestTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	policy, _ := choker.NewTitForTat(choker.TitForTatConfig{})
	tor = newTorrent(cl, sha1.Sum(info), TorrentSpec{Dir: t.TempDir()}, policy)
	t.Cleanup(func() {
		tor.cancel()
		if tor.disk != nil {
			tor.disk.close()
		}
		tor.wg.Wait()
		if st := tor.storage(); st != nil {
			st.Close()
		}
	})
	add := func(id PeerID, size int) *conn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		c := newConn(tor, a, false, handshakeResult{ext: ourExtensions(true), peerID: [20]byte{byte(id)}})
		c.id = id
		c.ls = loopPeer{amChoking: true, peerChoking: true, connectedAt: time.Now()}
		tor.conns[id] = c
		hs, err := bencode.Marshal(map[string]any{"m": map[string]int{"ut_metadata": 3}, "metadata_size": size})
		require.NoError(t, err)
		require.NoError(t, tor.onExtendedHandshake(c, hs))
		return c
	}
	liar = add(1, 40_000)
	honest = add(2, len(info))
	return tor, info, liar, honest
}

// metadataRequests returns the pieces of the metadata requests queued for
// the peer.
func metadataRequests(t *testing.T, c *conn) []int {
	var out []int
	for _, raw := range takeQueued(c) {
		if len(raw) > 6 && raw[4] == byte(pp.Extended) && raw[5] == 3 {
			m, _ := metadataReply(t, raw)
			if m.Type == 0 {
				out = append(out, m.Piece)
			}
		}
	}
	return out
}

func metadataData(t *testing.T, piece int, data []byte, total int) []byte {
	b, err := bencode.Marshal(metadataMsg{Type: 1, Piece: piece, TotalSize: total})
	require.NoError(t, err)
	return append(b, data...)
}

// TestMetadataFetchPassesOverLiars: a peer that claims a wrong metadata
// size and then sends junk, rejects, or never answers does not hold a
// magnet link's download up; the junk sender is banned; the info comes
// from the honest peer.
func TestMetadataFetchPassesOverLiars(t *testing.T) {
	for _, how := range []string{"junk", "reject", "silent"} {
		t.Run(how, func(t *testing.T) {
			tor, info, liar, honest := metadataTorrent(t)
			require.Equal(t, []int{0, 1, 2}, metadataRequests(t, liar), "the liar is asked for its 3 pieces")
			require.Empty(t, metadataRequests(t, honest), "one peer at a time")
			switch how {
			case "junk":
				for i := 0; i < 3; i++ {
					n := min(metadataPiece, 40_000-i*metadataPiece)
					require.NoError(t, tor.onMetadata(liar, metadataData(t, i, make([]byte, n), 40_000)))
				}
				assert.ErrorIs(t, liar.Err(), ErrBanned)
				assert.True(t, tor.bannedIDs[liar.peerID])
			case "reject":
				p, err := bencode.Marshal(metadataMsg{Type: 2, Piece: 1})
				require.NoError(t, err)
				require.NoError(t, tor.onMetadata(liar, p))
			case "silent":
				tor.requestMetadata()
				require.Empty(t, metadataRequests(t, honest), "waits for RequestTimeout")
				tor.meta.progress = time.Now().Add(-2 * time.Second)
				tor.requestMetadata()
			}
			want := (len(info) + metadataPiece - 1) / metadataPiece
			got := metadataRequests(t, honest)
			require.Len(t, got, want, "the honest peer is asked")
			for _, i := range got {
				require.NoError(t, tor.onMetadata(honest, metadataData(t, i, info[i*metadataPiece:min(len(info), (i+1)*metadataPiece)], len(info))))
			}
			select {
			case <-tor.GotInfo():
			default:
				t.Fatal("no info")
			}
			assert.Equal(t, info, tor.infoBytes)
		})
	}
}

// TestMetadataMessageWithoutType: a ut_metadata message without msg_type
// or piece is ignored (it was taken for a request for piece 0).
func TestMetadataMessageWithoutType(t *testing.T) {
	tor, c := fuzzTorrent(t)
	c.ls.metadataID = 3
	for _, p := range []string{"de", "d5:piecei0ee", "d8:msg_typei0ee"} {
		require.NoError(t, tor.onMetadata(c, []byte(p)))
		assert.Empty(t, takeQueued(c), "%s: no answer", p)
	}
	assert.ErrorIs(t, tor.onMetadata(c, []byte("x")), ErrProtocol)
}
