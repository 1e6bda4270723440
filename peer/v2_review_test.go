package peer_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// TestReviewHashRejectsOfOurRequests: a leecher lacking the piece layers
// of a pure v2 torrent of many files asks every peer for each missing
// layer. A peer that lacks them too (another magnet leecher) answers each
// with a hash reject, as BEP 52 says; those are answers to our requests,
// not unwanted messages, and must not get an honest peer dropped. On
// HEAD each reject counts towards maxUnwanted (256), so past 256 missing
// layers every such peer is dropped with ErrProtocol.
func TestReviewHashRejectsOfOurRequests(t *testing.T) {
	const files = 300
	sizes := make([]int, files)
	for i := range sizes {
		sizes[i] = 64<<10 + 1 // two pieces: a piece layer each
	}
	var in []piece.V2Input
	for k, n := range sizes {
		b := make([]byte, n)
		b[0] = byte(k)
		b[1] = byte(k >> 8)
		in = append(in, piece.V2Input{Path: []string{fmt.Sprintf("f%03d.bin", k)}, Length: int64(n), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}})
	}
	mi, _, err := piece.NewV2MetaInfo("many", 64<<10, in, false)
	require.NoError(t, err)
	stripped := *mi
	stripped.PieceLayers = nil
	dir := t.TempDir() // removed after the client closes
	leecher := newClient(t, nil)
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: &stripped, Dir: dir})
	require.NoError(t, err)
	r := dialRawFrom(t, netip.MustParseAddr("127.0.0.9"), leecher.Addr().String(), tor.InfoHash(), true, false, "-RW0001-"+randomSuffix())
	haveAllAndUnchoke(r)
	rejected := 0
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for rejected < files {
		var m pp.Message
		err := r.d.Decode(&m)
		require.NoError(t, err, "dropped after %d hash rejects", rejected)
		if m.Type != pp.HashRequest {
			continue
		}
		req := piece.HashRequest{Root: m.PiecesRoot, BaseLayer: uint32(m.BaseLayer), Index: uint32(m.Index), Length: uint32(m.Length), ProofLayers: uint32(m.ProofLayers)}
		r.write(hashMsg(pp.HashReject, req, nil))
		rejected++
	}
	// Still connected: a keepalive-free wait ends on the deadline, not EOF.
	_ = r.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		var m pp.Message
		err := r.d.Decode(&m)
		if err == nil {
			continue
		}
		var ne net.Error
		assert.True(t, errors.As(err, &ne) && ne.Timeout(), "the peer that rejected our %d hash requests was dropped: %v", rejected, err)
		return
	}
}
