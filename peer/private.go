package peer

import (
	"context"

	"github.com/bttspeed/bttspeed/peer/discovery"
)

// publicOnly runs a peer source (the DHT) until the torrent's info turns
// out private (BEP 27): a magnet's info may say so only once fetched, and
// the source stops at that moment.
type publicOnly struct {
	src discovery.Source
	t   *Torrent
}

func (s publicOnly) Run(ctx context.Context, a discovery.Announce) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	dropped := false // written before stopped is closed
	go func() {
		defer close(stopped)
		select {
		case <-s.t.gotInfo:
			// The info is set before gotInfo is closed and never
			// changes after: safe to read here.
			if s.t.private() {
				s.t.log.Info("private torrent: the DHT is off for it")
				dropped = true
				cancel()
			}
		case <-ctx.Done():
		}
	}()
	err := s.src.Run(ctx, a)
	cancel()
	<-stopped
	if dropped {
		return nil
	}
	return err
}
