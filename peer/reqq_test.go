package peer_test

import (
	"fmt"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// TestRequestsHonourReqq: we keep no more requests in flight to a peer
// than the queue depth its BEP 10 handshake advertises (reqq); one that
// advertises none, or nonsense, gets the pipeline's opening 64.
func TestRequestsHonourReqq(t *testing.T) {
	f := newFixture(t, 4<<20, 256<<10) // 256 blocks: more than any pipeline here
	for _, tc := range []struct {
		name string
		reqq any // nil: no reqq key
		want int
	}{
		{"reqq 8", 8, 8},
		{"reqq 100", 100, 64},
		{"no reqq", nil, 64},
		{"reqq 0", 0, 64},
		{"reqq negative", -3, 64},
		{"reqq a string", "8", 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leecher := newClient(t, nil)
			_, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir()})
			require.NoError(t, err)
			r := dialRawID(t, leecher.Addr().String(), f.mi.HashInfoBytes(), true, true, fmt.Sprintf("-XX0000-reqq%08d", len(tc.name)))
			hs := map[string]any{"m": map[string]int{}}
			if tc.reqq != nil {
				hs["reqq"] = tc.reqq
			}
			r.write(extMsg(0, bencoded(t, hs)))
			haveAllAndUnchoke(r)
			// Answer nothing: what is in flight only grows while the
			// leecher thinks there is room.
			n := 0
			for {
				if _, ok := r.recv(time.Second, pp.Request); !ok {
					break
				}
				n++
			}
			assert.Equal(t, tc.want, n, "requests in flight")
		})
	}
}
