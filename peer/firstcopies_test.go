package peer_test

import (
	"net/netip"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer"
)

// TestCappedSeederSendsFirstCopies: a seeder whose upload is capped
// declines (BEP 6 reject) a peer's request for a piece it is already
// sending another peer while some piece has gone to nobody, and serves the
// same peer a piece nobody has; a peer that gets nothing from anyone else
// (it announced no piece we did not send it) is served its duplicates once
// every piece has gone out, or after a second. An uncapped seeder, a peer without
// BEP 6, or one of another client (its peer id), is served as before.
func TestCappedSeederSendsFirstCopies(t *testing.T) {
	f := newFixture(t, 4*(16<<10), 16<<10)
	for _, tc := range []struct {
		name   string
		rate   int64 // the seeder's UploadRate (0: uncapped)
		fast   bool  // b speaks BEP 6
		aTakes int   // a fetches pieces 0 to aTakes-1 first
		bID    string
		wantB0 pp.MessageType
	}{
		{"capped: a second copy is declined", 1 << 20, true, 1, "-BS0100-", pp.Reject},
		{"capped, every piece out once: a peer alone with us is served", 1 << 20, true, 4, "-BS0100-", pp.Piece},
		{"capped, another client: served", 1 << 20, true, 1, "-TR4050-", pp.Piece},
		{"uncapped: every request is served", 0, true, 1, "-BS0100-", pp.Piece},
		{"capped, no BEP 6: served, a reject would be a violation", 1 << 20, false, 1, "-BS0100-", pp.Piece},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := newClient(t, func(c *peer.Config) {
				c.Policy = func() (choker.Policy, error) { return fixedPolicy{unchoke: true}, nil }
				c.RechokeInterval = 100 * time.Millisecond
				c.UploadRate = tc.rate
			})
			seed(t, cl, f)
			ih := f.mi.HashInfoBytes()
			join := func(from netip.Addr, fast bool, id string) *rawPeer {
				r := dialRawFrom(t, from, cl.Addr().String(), ih, fast, false, id)
				if fast {
					r.send(pp.HaveNone)
				} else {
					r.write([]byte{0, 0, 0, 2, byte(pp.Bitfield), 0})
				}
				r.send(pp.Interested)
				_, ok := r.recv(5*time.Second, pp.Unchoke)
				require.True(t, ok, "%s unchoked", id)
				return r
			}
			a := join(netip.MustParseAddr("127.0.0.21"), true, "-XX0001-a-"+randomSuffix())
			b := join(netip.MustParseAddr("127.0.0.22"), tc.fast, tc.bID+randomSuffix())
			for i := range tc.aTakes {
				a.send(pp.Request, uint32(i), 0, 16<<10)
				m, ok := a.recv(5*time.Second, pp.Piece, pp.Reject)
				require.True(t, ok)
				require.Equal(t, pp.Piece, m.Type, "the first copy of piece %d goes to a", i)
			}

			b.send(pp.Request, 0, 0, 16<<10)
			m, ok := b.recv(5*time.Second, pp.Piece, pp.Reject)
			require.True(t, ok)
			assert.Equal(t, tc.wantB0, m.Type, "b asks for piece 0 too")
			if tc.aTakes > 1 {
				return
			}
			if m.Type == pp.Reject {
				// b has had nothing from anyone else: past the lone
				// window it is served (it may want none of the pieces
				// nobody has yet, as a partial download).
				require.Eventually(t, func() bool {
					b.send(pp.Request, 0, 0, 16<<10)
					m, ok := b.recv(5*time.Second, pp.Piece, pp.Reject)
					return ok && m.Type == pp.Piece
				}, 5*time.Second, 100*time.Millisecond, "b is served piece 0 in the end")
			}
			b.send(pp.Request, 1, 0, 16<<10)
			m, ok = b.recv(5*time.Second, pp.Piece, pp.Reject)
			require.True(t, ok)
			assert.Equal(t, pp.Piece, m.Type, "b asks for piece 1, which nobody has")
			assert.EqualValues(t, 1, m.Index)
		})
	}
}
