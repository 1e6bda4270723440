package peer

import (
	"net/netip"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
)

// TestAllowedFastSet checks the allowed-fast set against BEP 6's own
// examples, and the cases it has none for.
func TestAllowedFastSet(t *testing.T) {
	var ih metainfo.Hash
	for i := range ih {
		ih[i] = 0xaa
	}
	for _, tc := range []struct {
		name      string
		ip        string
		numPieces int
		k         int
		want      []int
	}{
		{"BEP 6, k=7", "80.4.4.200", 1313, 7, []int{1059, 431, 808, 1217, 287, 376, 1188}},
		{"BEP 6, k=9", "80.4.4.200", 1313, 9, []int{1059, 431, 808, 1217, 287, 376, 1188, 353, 508}},
		{"the last octet does not count", "80.4.4.1", 1313, 7, []int{1059, 431, 808, 1217, 287, 376, 1188}},
		{"an IPv4-mapped IPv6 address is its IPv4 one", "::ffff:80.4.4.200", 1313, 7, []int{1059, 431, 808, 1217, 287, 376, 1188}},
		{"no more than the pieces, each once", "80.4.4.200", 3, 10, []int{1, 2, 0}},
		{"IPv6: none", "2001:db8::1", 1313, 7, nil},
		{"no pieces: none", "80.4.4.200", 0, 7, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := allowedFastSet(netip.MustParseAddr(tc.ip), ih, tc.numPieces, tc.k)
			assert.Equal(t, tc.want, got)
		})
	}
}
