package peer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/choker"
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

// magnetTorrent is a torrent without its info, as from a magnet link, with
// one connection; no loop runs.
func magnetTorrent(tb testing.TB) (*Torrent, *conn) {
	tb.Helper()
	cl, err := NewClient(Config{NoListen: true, DataDir: tb.TempDir()})
	require.NoError(tb, err)
	tb.Cleanup(func() { cl.Close() })
	policy, _ := choker.NewTitForTat(choker.TitForTatConfig{})
	t := newTorrent(cl, [20]byte{1}, TorrentSpec{Dir: tb.TempDir()}, policy)
	a, b := net.Pipe()
	tb.Cleanup(func() { a.Close(); b.Close() })
	c := newConn(t, a, false, handshakeResult{ext: ourExtensions(true)})
	c.id = 1
	c.ls = loopPeer{amChoking: true, peerChoking: true, connectedAt: time.Now()}
	t.conns[c.id] = c
	return t, c
}

// TestEarlyHavesBounded: before the info, what a peer says it has is kept
// in at most maxEarlyPieces bits, and more is a violation (it used to grow
// a []bool to 16 million entries per peer).
func TestEarlyHavesBounded(t *testing.T) {
	tor, c := magnetTorrent(t)
	require.NoError(t, tor.onHave(c, maxEarlyPieces-1))
	assert.LessOrEqual(t, len(c.ls.early)*8, maxEarlyPieces/8+8, "bits, not bools")
	assert.ErrorIs(t, tor.onHave(c, maxEarlyPieces), ErrProtocol)
	assert.ErrorIs(t, tor.onHave(c, 1<<24-1), ErrProtocol)
	assert.ErrorIs(t, tor.onHave(c, -1), ErrProtocol)

	_, c = magnetTorrent(t)
	bools := make([]bool, maxEarlyPieces+8)
	bools[maxEarlyPieces] = true
	assert.ErrorIs(t, c.setEarly(bools), ErrProtocol)
}

// TestEarlyHavesCheckedAgainstTheInfo: once the info is known, a peer that
// claimed pieces past the last is dropped; one that did not is recorded.
func TestEarlyHavesCheckedAgainstTheInfo(t *testing.T) {
	tor, c := fuzzTorrent(t)
	n := tor.layout.NumPieces()
	require.NoError(t, c.ls.early.set(1))
	require.NoError(t, tor.onBitfieldLate(c))
	assert.True(t, tor.picker.PeerHas(piece.PeerID(c.id), 1))
	assert.Equal(t, 1, c.ls.have)
	require.NoError(t, c.ls.early.set(n))
	assert.ErrorIs(t, tor.onBitfieldLate(c), ErrProtocol)
}

// TestMessageLengthLimits: a message longer than its type allows is
// refused from its header, before the decoder allocates for it.
func TestMessageLengthLimits(t *testing.T) {
	// header is a message's header; an extended message's has its
	// extension number too, which a long one is checked for.
	header := func(length uint32, typ pp.MessageType, ext byte) *bufio.Reader {
		b := binary.BigEndian.AppendUint32(nil, length)
		b = append(b, byte(typ))
		if typ == pp.Extended {
			b = append(b, ext)
		}
		return bufio.NewReader(bytes.NewReader(b))
	}
	_, pre := magnetTorrent(t)
	tor, with := fuzzTorrent(t)
	n := tor.layout.NumPieces()
	tests := []struct {
		name   string
		c      *conn
		length uint32
		typ    pp.MessageType
		ext    byte // our number for an extended message
		ok     bool
	}{
		{"bitfield of the torrent's size", with, 1 + uint32(n+7)/8, pp.Bitfield, 0, true},
		{"bitfield a byte longer", with, 2 + uint32(n+7)/8, pp.Bitfield, 0, false},
		{"bitfield of the most pieces before the info", pre, 1 + (maxEarlyPieces+7)/8, pp.Bitfield, 0, true},
		{"bitfield of 1 MiB before the info", pre, 1 << 20, pp.Bitfield, 0, false},
		{"extended message of 128 KiB", with, maxExtendedLength, pp.Extended, 0, true},
		{"extended message of 1 MiB", with, 1 << 20, pp.Extended, 0, false},
		{"ut_metadata message of a piece and its dict", with, 2 + maxMetadataMessage, pp.Extended, byte(localMetadataID), true},
		{"ut_metadata message a byte longer", with, 3 + maxMetadataMessage, pp.Extended, byte(localMetadataID), false},
		{"extension message of 128 KiB", with, maxExtendedLength, pp.Extended, 2, true},
		{"extended message without its number", with, 1, pp.Extended, 0, true},
		{"piece of 2 GiB", with, 1 << 31, pp.Piece, 0, false},
		{"request", with, 13, pp.Request, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.checkLength(header(tc.length, tc.typ, tc.ext))
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrProtocol)
			}
		})
	}
	// A keep-alive alone is not held up waiting for a type byte.
	assert.NoError(t, with.checkLength(bufio.NewReader(bytes.NewReader([]byte{0, 0, 0, 0}))))
}

// TestExtendedHandshakeNamesBounded: of an extended handshake naming
// thousands of extensions we keep the ones we speak and a few others.
func TestExtendedHandshakeNamesBounded(t *testing.T) {
	tor, c := fuzzTorrent(t)
	m := map[string]int{"ut_metadata": 7, strings.Repeat("x", 100): 9}
	for i := 0; i < 5000; i++ {
		m[fmt.Sprintf("bogus_%d", i)] = 1 + i%255
	}
	payload, err := bencode.Marshal(map[string]any{"m": m})
	require.NoError(t, err)
	require.NoError(t, tor.onExtendedHandshake(c, payload))
	assert.LessOrEqual(t, len(c.ls.extIDs), 1+maxPeerExtensions)
	assert.Equal(t, pp.ExtensionNumber(7), c.ls.extIDs["ut_metadata"], "the ones we speak are kept")
	assert.Equal(t, pp.ExtensionNumber(7), c.ls.metadataID)
	assert.NotContains(t, c.ls.extIDs, strings.Repeat("x", 100), "long names are not")
}
