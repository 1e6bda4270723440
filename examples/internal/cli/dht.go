package cli

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/bttspeed/bttspeed/peer/discovery"
)

// StartDHT makes the -dht node, joined through bootstrap
// (-dht-bootstrap), or through the public bootstrap nodes (it then
// reaches the internet) when bootstrap is empty; the nodes a .torrent
// names (BEP 5's "nodes") are tried as well. The node runs on the peer
// client's own port (discovery.DHTConfig.OnClientSocket): give it to
// peer.Config.DHT, and the client starts it on its UDP port — the uTP
// socket's, with uTP on — so that TCP, uTP and the DHT share one port
// number, the one peers and trackers hear of. It joins in the background
// once the client has started it (its Addr is valid from then); stop
// closes the node and waits for that.
func StartDHT(ctx context.Context, bootstrap, torrentNodes []netip.AddrPort, log *slog.Logger) (dht *discovery.DHT, stop func(), err error) {
	dht, err = discovery.NewDHT(discovery.DHTConfig{
		OnClientSocket: true, StartingNodes: append(append([]netip.AddrPort{}, bootstrap...), torrentNodes...),
		PublicBootstrap: len(bootstrap) == 0, Logger: log,
	})
	if err != nil {
		return nil, nil, Setupf("-dht: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := dht.Bootstrap(ctx); err != nil && ctx.Err() == nil {
			log.Warn("DHT bootstrap", "err", err)
		}
	})
	return dht, func() {
		cancel()
		dht.Close()
		wg.Wait()
	}, nil
}
