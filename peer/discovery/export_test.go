package discovery

import (
	"context"
	"net/netip"

	"github.com/anacrolix/torrent/tracker"
)

// AnnounceOnce announces "started" once and returns the peers the tracker
// gave, or the announce's error.
func (tr *Tracker) AnnounceOnce(ctx context.Context, a Announce) ([]netip.AddrPort, error) {
	cl, err := tr.newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	resp, err := tr.announce(ctx, cl, a, tracker.Started, a.Stats())
	if err != nil {
		return nil, err
	}
	var peers []netip.AddrPort
	for _, p := range resp.Peers {
		if ap, ok := p.ToNetipAddrPort(); ok {
			peers = append(peers, ap)
		}
	}
	return peers, nil
}

// ParseAnnounce is parseAnnounce, for the fuzz target.
var ParseAnnounce = parseAnnounce
