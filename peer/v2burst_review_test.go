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

// TestReviewHashRequestBurst: askHashes queues every request for every
// missing piece layer to a peer at once (53 bytes each, 117 counted by the
// send queue). Past about 17,900 files of two pieces or more that is over
// maxQueuedBytes (2 MiB), and the leecher drops each peer it asks with
// ErrSlowPeer before writing a byte: a pure v2 magnet of that many files
// can never fetch its layers. Requests should go out a window at a time.
func TestReviewHashRequestBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("19,000 files")
	}
	const files = 19000
	const pl = 16 << 10
	var in []piece.V2Input
	for k := range files {
		in = append(in, piece.V2Input{Path: []string{fmt.Sprintf("f%05d.bin", k)}, Length: pl + 1, Open: func() (io.ReadCloser, error) {
			b := make([]byte, pl+1)
			b[0], b[1] = byte(k), byte(k>>8)
			return io.NopCloser(bytes.NewReader(b)), nil
		}})
	}
	mi, _, err := piece.NewV2MetaInfo("many", pl, in, false)
	require.NoError(t, err)
	stripped := *mi
	stripped.PieceLayers = nil
	dir := t.TempDir() // removed after the client closes
	leecher := newClient(t, nil)
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: &stripped, Dir: dir})
	require.NoError(t, err)
	r := dialRawFrom(t, netip.MustParseAddr("127.0.0.9"), leecher.Addr().String(), tor.InfoHash(), true, false, "-RW0001-"+randomSuffix())
	haveAllAndUnchoke(r)
	asked := 0
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m pp.Message
		err := r.d.Decode(&m)
		if err != nil {
			var ne net.Error
			assert.True(t, errors.As(err, &ne) && ne.Timeout(), "dropped after %d hash requests: %v", asked, err)
			return
		}
		if m.Type == pp.HashRequest {
			asked++
		}
	}
}
