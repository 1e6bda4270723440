package peer

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBanCovers: a ban covers the banned peer's IPv4 address, whatever the
// port (and written as IPv4-mapped IPv6), or its IPv6 /64; not the next
// address, nor the next /64. Its peer id is banned too, the addresses it
// covers that the torrent knew are forgotten, and other connections from
// it are closed.
func TestBanCovers(t *testing.T) {
	tests := []struct {
		name   string
		banned string // the banned peer's address
		addr   string
		want   bool
	}{
		{"the same address, another port", "127.0.0.2:6881", "127.0.0.2:51000", true},
		{"the next address", "127.0.0.2:6881", "127.0.0.3:6881", false},
		{"the address, IPv4-mapped", "127.0.0.2:6881", "[::ffff:127.0.0.2]:1", true},
		{"an IPv4-mapped ban, the address", "[::ffff:10.1.2.3]:1", "10.1.2.3:2", true},
		{"another address of the /64", "[2001:db8:1:2::5]:6881", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:7", true},
		{"the next /64", "[2001:db8:1:2::5]:6881", "[2001:db8:1:3::5]:6881", false},
		{"a link-local address with a zone", "[fe80::1%eth0]:1", "[fe80::2]:1", true},
		{"an IPv4 ban, an IPv6 address", "127.0.0.2:1", "[::1]:1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tor, _ := fuzzTorrent(t)
			tor.cancel() // its loop does not run; and nothing is dialed
			bad := fuzzConn(t, tor, 50)
			bad.addr = netip.MustParseAddrPort(tc.banned)
			other := fuzzConn(t, tor, 51)
			other.addr = netip.MustParseAddrPort(tc.addr)
			tor.known[other.addr] = &candidate{}
			tor.ban(bad, "a test")

			require.ErrorIs(t, bad.Err(), ErrBanned)
			assert.True(t, tor.bannedIDs[bad.peerID])
			assert.Equal(t, tc.want, tor.isBanned(other.addr))
			assert.Equal(t, tc.want, tor.known[other.addr] == nil, "known to dial")
			if tc.want {
				assert.ErrorIs(t, other.Err(), ErrBanned, "its other connection closed")
			} else {
				assert.NoError(t, other.Err())
			}
			tor.addCandidates([]netip.AddrPort{other.addr})
			assert.Equal(t, tc.want, tor.known[other.addr] == nil, "known to dial, once given again")
		})
	}
}

// TestBanWithoutAddress: a connection without an IP address (a pipe) is
// banned by peer id alone, and bans no address.
func TestBanWithoutAddress(t *testing.T) {
	tor, _ := fuzzTorrent(t)
	c := fuzzConn(t, tor, 50)
	require.False(t, c.addr.IsValid())
	tor.ban(c, "a test")
	assert.True(t, tor.bannedIDs[c.peerID])
	assert.Empty(t, tor.banned)
}
