package cli

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/bttspeed/bttspeed/peer/discovery"
)

// StartDHT starts the -dht node: joined through bootstrap (-dht-bootstrap),
// or through the public bootstrap nodes (it then reaches the internet)
// when bootstrap is empty; the nodes a .torrent names (BEP 5's "nodes")
// are tried as well. It listens on the UDP address addr ("" for any port).
// It joins in the background; stop closes the node and waits for that.
func StartDHT(ctx context.Context, addr string, bootstrap, torrentNodes []netip.AddrPort, log *slog.Logger) (dht *discovery.DHT, stop func(), err error) {
	nodes := append(append([]netip.AddrPort{}, bootstrap...), torrentNodes...)
	dht, err = discovery.NewDHT(discovery.DHTConfig{Addr: addr, StartingNodes: nodes, PublicBootstrap: len(bootstrap) == 0, Logger: log})
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
