package peer_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
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

// manyLayerless returns a pure v2 .torrent of n files of two pieces each,
// stripped of its piece layers, and the seeder-side hashes that answer
// requests for them.
func manyLayerless(t *testing.T, n int) (*metainfo.MetaInfo, *piece.V2Hashes) {
	t.Helper()
	const pl = 16 << 10
	var in []piece.V2Input
	for k := range n {
		b := make([]byte, pl+1)
		b[0], b[1] = byte(k), byte(k>>8)
		in = append(in, piece.V2Input{Path: []string{fmt.Sprintf("f%04d.bin", k)}, Length: pl + 1, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}})
	}
	mi, info, err := piece.NewV2MetaInfo("many", pl, in, false)
	require.NoError(t, err)
	served, err := piece.NewV2Hashes(info, mi.PieceLayers)
	require.NoError(t, err)
	require.True(t, served.Complete())
	stripped := *mi
	stripped.PieceLayers = nil
	return &stripped, served
}

// nextHashRequest reads messages until a hash request comes and returns
// it; ok is false if none came within wait. The peer dropped fails the
// test. Block requests on the way are counted in blocks, if not nil.
func nextHashRequest(t *testing.T, r *rawPeer, wait time.Duration, blocks *int) (req piece.HashRequest, ok bool) {
	t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(wait))
	defer r.c.SetReadDeadline(time.Time{})
	for {
		var m pp.Message
		if err := r.d.Decode(&m); err != nil {
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout(), "the leecher dropped the peer: %v", err)
			return piece.HashRequest{}, false
		}
		if m.Type == pp.Request && blocks != nil {
			*blocks++
		}
		if m.Type == pp.HashRequest {
			return piece.HashRequest{Root: m.PiecesRoot, BaseLayer: uint32(m.BaseLayer), Index: uint32(m.Index), Length: uint32(m.Length), ProofLayers: uint32(m.ProofLayers)}, true
		}
	}
}

// TestHashRequestWindow: a leecher lacking the piece layers of many files
// asks a peer for at most HashWindow of them at a time and asks the next
// as answers come; a peer that rejects every request (a magnet leecher
// itself) stays connected and is never asked twice for one layer; a
// second peer is asked for the layers the first rejected, and its hashes
// make the layers complete: the leecher then requests blocks.
func TestHashRequestWindow(t *testing.T) {
	const files = 2*peer.HashWindow + 22
	mi, served := manyLayerless(t, files)
	dir := t.TempDir() // removed after the client closes
	leecher := newClient(t, nil)
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: mi, Dir: dir})
	require.NoError(t, err)

	a := dialRawFrom(t, netip.MustParseAddr("127.0.0.9"), leecher.Addr().String(), tor.InfoHash(), true, false, "-RW0001-"+randomSuffix())
	haveAllAndUnchoke(a)
	var out []piece.HashRequest
	seen := map[piece.HashRequest]bool{}
	for range peer.HashWindow {
		req, ok := nextHashRequest(t, a, 5*time.Second, nil)
		require.True(t, ok, "%d hash requests came, want %d", len(out), peer.HashWindow)
		out = append(out, req)
		seen[req] = true
	}
	_, ok := nextHashRequest(t, a, 300*time.Millisecond, nil)
	require.False(t, ok, "more than %d hash requests outstanding", peer.HashWindow)

	for len(out) > 0 {
		a.write(hashMsg(pp.HashReject, out[0], nil))
		out = out[1:]
		if len(seen) == files {
			continue
		}
		req, ok := nextHashRequest(t, a, 5*time.Second, nil)
		require.True(t, ok, "no hash request after a reject, %d of %d asked", len(seen), files)
		require.False(t, seen[req], "asked again for a layer it rejected: %+v", req)
		out = append(out, req)
		seen[req] = true
	}
	assert.Len(t, seen, files, "one request per layer")
	_, ok = nextHashRequest(t, a, 300*time.Millisecond, nil)
	assert.False(t, ok, "asked again after rejecting every layer")
	expectOpen(t, a.c, 100*time.Millisecond)

	require.NoError(t, a.c.Close()) // blocks are then asked of b alone

	b := dialRawFrom(t, netip.MustParseAddr("127.0.0.10"), leecher.Addr().String(), tor.InfoHash(), true, false, "-RW0001-"+randomSuffix())
	haveAllAndUnchoke(b)
	blocks := 0
	for n := range files {
		req, ok := nextHashRequest(t, b, 5*time.Second, &blocks)
		require.True(t, ok, "the second peer was asked for %d layers of %d", n, files)
		require.True(t, seen[req], "a request the first peer was not sent: %+v", req)
		hashes, err := served.Answer(req)
		require.NoError(t, err)
		b.write(hashMsg(pp.Hashes, req, hashes))
	}
	_, ok = nextHashRequest(t, b, time.Second, &blocks)
	assert.False(t, ok, "asked for a layer after all came")
	assert.Positive(t, blocks, "no block requested once the layers came")
}
