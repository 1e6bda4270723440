package speed_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/peertest"
)

// onNetwork returns a config change that puts a client on a new host of
// n: it listens and dials through n only, no sockets.
func onNetwork(t testing.TB, n *peertest.Network) func(*peer.Config) {
	return func(c *peer.Config) {
		h := n.Host()
		ln, err := h.Listen(6881)
		require.NoError(t, err)
		c.ListenAddr = "" // unused: the listener is given
		c.Listener, c.Dial = ln, h.Dial
	}
}

// tcpOnly: most scenarios here run in a testing/synctest bubble over the
// in-memory network (newMarket), where bytes move in no time at all and
// the clock jumps to the next timer once every goroutine waits. A few
// still run over TCP, outside a bubble (their market's client and net
// set to nil), because what they assert depends on bytes taking time
// against the rechoke and the payment timers, which over pipes in a
// bubble they do not: TestStopPaying and TestPayOnceThenStop (what a
// non-payer is served between choke decisions), TestTopUpSharedChannel
// (vouchers of two connections crossing top-ups), and TestHostileBuyers'
// "bids 2^256-1" (the bidder must be dropped before the free slot serves
// it), and TestListedPiecesOnlyIfSoldWhole, which shares their
// stopPayWinner. TestPaidOverUTPEncrypted is about uTP, so runs on real
// sockets, and TestPaidSwarmAuction has a stock anacrolix leecher, which
// has no Dial to give.
