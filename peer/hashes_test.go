package peer_test

import (
	"encoding/binary"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// hashMsg encodes a BEP 52 hash message.
func hashMsg(typ pp.MessageType, r piece.HashRequest, hashes [][32]byte) []byte {
	tail := append([]byte(nil), r.Root[:]...)
	for _, x := range []uint32{r.BaseLayer, r.Index, r.Length, r.ProofLayers} {
		tail = binary.BigEndian.AppendUint32(tail, x)
	}
	for _, h := range hashes {
		tail = append(tail, h[:]...)
	}
	return msgOf(typ, nil, tail)
}

// nextHashMsg reads messages until a hash message comes.
func nextHashMsg(t *testing.T, r *rawPeer) pp.Message {
	t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer r.c.SetReadDeadline(time.Time{})
	for {
		var m pp.Message
		require.NoError(t, r.d.Decode(&m))
		if m.Type == pp.Hashes || m.Type == pp.HashReject {
			return m
		}
	}
}

// TestHashRequestsServed: a seeder of a pure v2 or hybrid torrent answers a peer's
// hash requests for its piece layers with hashes that prove out to the
// files' roots (a leecher's V2Hashes made without the layers takes them and
// is complete), refuses what it cannot answer with a hash reject, and
// takes hashes and rejects it never asked for as unwanted messages, not as
// a reason to drop the peer.
func TestHashRequestsServed(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		t.Run(map[bool]string{true: "hybrid", false: "pure v2"}[hybrid], func(t *testing.T) {
			testHashRequestsServed(t, hybrid)
		})
	}
}

func testHashRequestsServed(t *testing.T, hybrid bool) {
	f := newV2Fixture(t, hybrid, 300000, 20000, 500000+7)
	seeder := newClient(t, nil)
	st, err := seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	r := dialRawID(t, seeder.Addr().String(), st.InfoHash(), true, false, "-RW0001-"+randomSuffix())

	leecher, err := piece.NewV2Hashes(f.info, nil)
	require.NoError(t, err)
	require.False(t, leecher.Complete())
	for _, fl := range leecher.Files() {
		if fl.NumPieces < 2 {
			continue
		}
		width := uint32(1)
		for width < uint32(fl.NumPieces) {
			width *= 2
		}
		req := piece.HashRequest{Root: fl.Root, BaseLayer: leecher.PieceLayer(), Length: width}
		r.write(hashMsg(pp.HashRequest, req, nil))
		m := nextHashMsg(t, r)
		require.Equal(t, pp.Hashes, m.Type)
		require.Equal(t, fl.Root, m.PiecesRoot)
		_, err := leecher.Accept(req, m.Hashes)
		require.NoError(t, err)
	}
	assert.True(t, leecher.Complete(), "the piece layers came over the wire")

	a := leecher.Files()[0]
	for _, tc := range []struct {
		name string
		req  piece.HashRequest
	}{
		{"unknown root", piece.HashRequest{Root: [32]byte{9}, Length: 2}},
		{"leaf layer", piece.HashRequest{Root: a.Root, BaseLayer: 0, Length: 2}},
		{"unaligned", piece.HashRequest{Root: a.Root, BaseLayer: leecher.PieceLayer(), Index: 1, Length: 2}},
		{"too long", piece.HashRequest{Root: a.Root, BaseLayer: leecher.PieceLayer(), Length: 1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.write(hashMsg(pp.HashRequest, tc.req, nil))
			m := nextHashMsg(t, r)
			assert.Equal(t, pp.HashReject, m.Type)
			assert.Equal(t, tc.req.Root, m.PiecesRoot)
			assert.Equal(t, tc.req.Length, uint32(m.Length))
		})
	}
	r.write(hashMsg(pp.Hashes, piece.HashRequest{Root: a.Root, Length: 2}, make([][32]byte, 2)))
	r.write(hashMsg(pp.HashReject, piece.HashRequest{Root: a.Root, Length: 2}, nil))
	r.write(msgOf(pp.Interested, nil, nil))
	expectOpen(t, r.c, 300*time.Millisecond)
}
