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

// TestExtPeerRequested: an extension reads the payload we have asked its
// peer for and not received (btt_speed's payer counts it as owed to the
// seeder): nothing before the peer unchokes us, then the requests in
// flight, less each block that arrives.
func TestExtPeerRequested(t *testing.T) {
	f := newFixture(t, 4<<20, 256<<10)
	g := &gateExt{open: true, peer: make(chan peer.ExtPeer, 1)}
	leecher := newClient(t, func(c *peer.Config) { c.Extensions = []peer.Extension{g} })
	_, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: t.TempDir()})
	require.NoError(t, err)
	r := dialRawID(t, leecher.Addr().String(), f.mi.HashInfoBytes(), true, true, "-XX0000-requested000")
	r.write(extMsg(0, bencoded(t, map[string]any{"m": map[string]int{"test_gate": 1}, "reqq": 8})))
	var ep peer.ExtPeer
	select {
	case ep = <-g.peer:
	case <-time.After(5 * time.Second):
		t.Fatal("extension not attached")
	}
	requested := func() int64 {
		got := make(chan int64, 1)
		ep.Do(func() { got <- ep.Requested() })
		select {
		case n := <-got:
			return n
		case <-time.After(5 * time.Second):
			t.Fatal("the torrent's loop did not run Requested")
			return 0
		}
	}
	assert.Zero(t, requested(), "choked: nothing asked for")

	haveAllAndUnchoke(r)
	var reqs []pp.Message
	for len(reqs) < 8 {
		m, ok := r.recv(5*time.Second, pp.Request)
		require.True(t, ok, "request %d", len(reqs))
		reqs = append(reqs, m)
	}
	assert.Equal(t, int64(8*16<<10), requested(), "eight blocks asked for")

	// One block arrives (its data is wrong, which the hash check finds
	// later, not the count): one block fewer is owed, and no more is
	// asked for while fewer than a quarter of the pipeline are free.
	m := reqs[0]
	r.write(msgOf(pp.Piece, []uint32{uint32(m.Index), uint32(m.Begin)}, make([]byte, m.Length)))
	assert.Eventually(t, func() bool { return requested() == 7*16<<10 }, 5*time.Second, 10*time.Millisecond)
}
