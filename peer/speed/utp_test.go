package speed_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer"
)

// btt_speed over uTP, encrypted: a paying leecher downloads from a seller
// over uTP alone with RC4, and the seller sells in a paid slot and is
// paid — the extension, the credit gate and the choking run unchanged on
// the other transport.
func TestPaidOverUTPEncrypted(t *testing.T) {
	m := newMarket(t)
	// Real sockets: uTP, not the in-memory network.
	m.client = func(c *peer.Config) { c.Protocols = peer.ProtocolUTP; c.Encryption = peer.EncryptionRequire }
	s := m.seller(btt.NewAmount(1), 2<<20+3, sellerOpts{})
	l := m.buyer(s, 2, btt.BTT(1000), btt.NewAmount(2), btt.BTT(1000), nil)
	require.Eventually(t, func() bool {
		figs, err := s.ext.Peers(context.Background())
		require.NoError(t, err)
		for _, pf := range figs {
			if pf.Sell != nil && pf.Sell.Sold > 0 && !pf.Sell.Paid.IsZero() {
				return true
			}
		}
		return false
	}, 60*time.Second, 5*time.Millisecond, "the seller sold nothing paid for over uTP")
	waitDone(t, l.tor, 60*time.Second)
	assert.Equal(t, s.sum, fileSum(t, filepath.Join(l.dir, "data.bin")))
}
