package peer

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/bttspeed/bttspeed/peer/discovery"
)

type candidate struct {
	nextTry   time.Time
	fails     int
	connected bool
	dialing   bool
}

// AddPeers gives the torrent peers to connect to.
func (t *Torrent) AddPeers(addrs ...netip.AddrPort) {
	addrs = slices.Clone(addrs)
	_ = t.do(context.Background(), func() { t.addCandidates(addrs) })
}

// maxKnownPeers bounds the addresses a torrent keeps to dial: a tracker or
// DHT node that answers with a flood of bogus peers cannot grow it further.
const maxKnownPeers = 2000

func (t *Torrent) addCandidates(addrs []netip.AddrPort) {
	swept := false
	for _, a := range addrs {
		if !a.IsValid() || a.Port() == 0 || t.isBanned(a) || t.isSelf(a) || t.known[a] != nil {
			continue
		}
		if len(t.known) >= maxKnownPeers && !swept {
			// Full: forget the addresses that failed us, once per batch.
			swept = true
			for k, cand := range t.known {
				if cand.fails > 0 && !cand.connected && !cand.dialing {
					delete(t.known, k)
				}
			}
		}
		if len(t.known) >= maxKnownPeers {
			continue
		}
		t.known[a] = &candidate{}
	}
	t.dialMore(time.Now())
}

func (t *Torrent) isSelf(a netip.AddrPort) bool {
	self := t.cl.Addr()
	return self.IsValid() && a.Port() == self.Port() && (a.Addr() == self.Addr() || self.Addr().IsUnspecified() && a.Addr().IsLoopback())
}

// runSource runs a peer source for the torrent's life.
func (t *Torrent) runSource(src discovery.Source) {
	port := int(t.cl.Addr().Port())
	a := discovery.Announce{
		InfoHash: t.ih,
		PeerID:   t.cl.peerID,
		Port:     port,
		Stats: func() discovery.Stats {
			return discovery.Stats{Uploaded: t.upAll.Load(), Downloaded: t.downloaded.Load(), Left: t.left.Load()}
		},
		Found: func(addrs []netip.AddrPort) {
			t.post(event{kind: evFunc, fn: func() { t.addCandidates(addrs) }})
		},
	}
	t.wg.Go(func() {
		if err := t.pausable(src).Run(t.ctx, a); err != nil {
			t.log.Warn("peer source stopped", "err", err)
		}
	})
}

func (t *Torrent) dialMore(now time.Time) {
	if t.ctx.Err() != nil || t.paused() {
		return // a paused torrent dials nobody
	}
	for addr, cand := range t.known {
		if t.dialing >= t.cl.cfg.MaxHalfOpen || len(t.conns)+t.dialing >= t.cl.cfg.MaxConnsPerTorrent {
			return
		}
		if cand.connected || cand.dialing || now.Before(cand.nextTry) || t.connectedTo(addr) {
			continue
		}
		cand.dialing = true
		t.dialing++
		t.wg.Go(func() { t.dial(addr) })
	}
}

func (t *Torrent) connectedTo(addr netip.AddrPort) bool {
	for _, c := range t.conns {
		if c.addr == addr {
			return true
		}
	}
	return false
}

func (t *Torrent) dial(addr netip.AddrPort) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cl.cfg.HandshakeTimeout)
	defer cancel()
	dial := func(ctx context.Context) (net.Conn, error) { return t.cl.dialPeer(ctx, addr) }
	nc, hs, err := connectPeer(ctx, dial, t.cl.cfg.Encryption, t.cl.ourExtensions(), t.ih, t.cl.peerID)
	if err == nil {
		if !t.post(event{kind: evNewConn, nc: nc, hs: hs, outgoing: true, addr: addr}) {
			_ = nc.Close()
		}
		return
	}
	if errors.Is(err, ErrEncryption) {
		t.log.Info("connection refused", "peer", addr, "reason", err)
	} else {
		t.log.Debug("dial failed", "peer", addr, "err", err)
	}
	t.post(event{kind: evDialFailed, addr: addr, err: err})
}
