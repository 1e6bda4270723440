package peer

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// Peer exchange (BEP 11, ut_pex) is a built-in Extension: the client
// registers it beside the configured ones unless Config.DisablePEX, and it
// runs through the same registry (handshake "m" entry, Attach, routing).
//
// What we send: to each peer, at most once per pexInterval (a minute),
// the addresses of the other peers we are connected to that take
// connections — those we dialed, and those that came to us and named
// their listening port ("p") in their extended handshake — as the change
// since the last message to that peer: at most pexMaxDelta added and
// pexMaxDelta dropped, with the flags (encryption, seed, reachable).
//
// What we take: from each peer, at most one message per half interval
// and at most pexMaxDelta added peers of it, into the candidates to dial
// while they fill at most half of maxKnownPeers, so that PEX never
// crowds out the peers trackers and the DHT give. A message larger than
// pexMaxPayload is ignored undecoded.
//
// Off for private torrents (BEP 27): not offered in the handshake once
// the info is known to be private, and a magnet's handlers stop the
// moment its info turns out private.
const (
	pexName       = "ut_pex"
	pexMaxDelta   = 50
	pexMaxPayload = 32 << 10
)

// offerer is implemented by extensions that are offered on some torrents
// only (ut_pex: not on private ones).
type offerer interface {
	Offers(t *Torrent) bool
}

type pexExtension struct {
	interval time.Duration
}

func (pexExtension) Name() string                          { return pexName }
func (pexExtension) HandshakeKeys(*Torrent) map[string]any { return nil }
func (pexExtension) Offers(t *Torrent) bool                { return !t.private() }

func (e pexExtension) Attach(p ExtPeer, hs map[string]bencode.Bytes) (ExtHandler, error) {
	ep, ok := p.(extPeer)
	if !ok {
		return nil, fmt.Errorf("%w: ut_pex attached to a foreign peer", ErrProtocol)
	}
	c := ep.c
	t := c.t
	if t.private() {
		return nil, nil
	}
	h := &pexHandler{p: ep, c: c, sent: make(map[netip.AddrPort]bool), listen: listenAddr(c, hs)}
	// The first message goes soon (a new peer learns the swarm at once),
	// then one per interval; a magnet's info arriving is checked at once.
	gotInfo := t.gotInfo
	if t.info != nil {
		gotInfo = nil
	}
	t.wg.Go(func() {
		timer := time.NewTimer(time.Second)
		defer timer.Stop()
		for {
			select {
			case <-t.ctx.Done():
				return
			case <-c.closed:
				return
			case <-gotInfo:
				gotInfo = nil
				t.post(event{kind: evFunc, fn: h.checkPrivate})
			case <-timer.C:
				t.post(event{kind: evFunc, fn: h.tick})
				timer.Reset(e.interval)
			}
		}
	})
	return h, nil
}

// private reports whether the torrent is private (BEP 27); false until its
// info is known. Loop state.
func (t *Torrent) private() bool {
	return t.info != nil && t.info.Private != nil && *t.info.Private
}

// listenAddr is where a peer takes connections: the address we dialed, or
// its IP and the port its extended handshake names.
func listenAddr(c *conn, hs map[string]bencode.Bytes) netip.AddrPort {
	if c.outgoing {
		return c.addr
	}
	var port int64
	if b, ok := hs["p"]; ok && len(b) > 0 && b[0] == 'i' && bencode.Unmarshal(b, &port) == nil && port > 0 && port < 1<<16 {
		return netip.AddrPortFrom(c.addr.Addr(), uint16(port))
	}
	return netip.AddrPort{}
}

// pexHandler is one peer's ut_pex; loop state.
type pexHandler struct {
	p       extPeer
	c       *conn
	listen  netip.AddrPort          // where the peer takes connections, if known
	sent    map[netip.AddrPort]bool // what the peer has been told is connected
	lastIn  time.Time               // when we last took a message of its
	stopped bool
}

func (h *pexHandler) Closed() { h.stopped = true }

// checkPrivate stops PEX the moment a magnet's info turns out private.
func (h *pexHandler) checkPrivate() {
	if !h.stopped && h.c.t.private() {
		h.stopped = true
		h.c.t.log.Debug("private torrent: peer exchange off", "peer", h.c.addr)
	}
}

// pexFlags are the BEP 11 flags we give a peer we are connected to.
func pexFlags(c *conn) pp.PexPeerFlags {
	var f pp.PexPeerFlags
	if _, ok := c.nc.(*mseConn); ok {
		f |= pp.PexPrefersEncryption
	}
	if c.ls.seed {
		f |= pp.PexSeedUploadOnly
	}
	if isUTP(c.nc) {
		f |= pp.PexSupportsUtp
	}
	if c.outgoing {
		f |= pp.PexOutgoingConn
	}
	return f
}

// tick sends the peer what changed among our connections since the last
// message, if anything did.
func (h *pexHandler) tick() {
	h.checkPrivate()
	if h.stopped {
		return
	}
	t := h.c.t
	now := make(map[netip.AddrPort]*conn, len(t.conns))
	for _, o := range t.conns {
		if o == h.c {
			continue
		}
		a := o.addr
		if !o.outgoing {
			a = netip.AddrPort{}
			for _, oh := range o.ls.handlers {
				if ph, ok := oh.(*pexHandler); ok {
					a = ph.listen
				}
			}
		}
		if a.IsValid() && a != h.listen && a != h.c.addr {
			now[a] = o
		}
	}
	var m pp.PexMsg
	for a, o := range now {
		if h.sent[a] || m.Len() >= pexMaxDelta {
			continue
		}
		h.sent[a] = true
		na := krpc.NodeAddr{IP: a.Addr().AsSlice(), Port: int(a.Port())}
		if a.Addr().Unmap().Is4() {
			na.IP = a.Addr().Unmap().AsSlice()
			m.Added = append(m.Added, na)
			m.AddedFlags = append(m.AddedFlags, pexFlags(o))
		} else {
			m.Added6 = append(m.Added6, na)
			m.Added6Flags = append(m.Added6Flags, pexFlags(o))
		}
	}
	dropped := 0
	for a := range h.sent {
		if now[a] != nil || dropped >= pexMaxDelta {
			continue
		}
		delete(h.sent, a)
		dropped++
		na := krpc.NodeAddr{IP: a.Addr().Unmap().AsSlice(), Port: int(a.Port())}
		if a.Addr().Unmap().Is4() {
			m.Dropped = append(m.Dropped, na)
		} else {
			m.Dropped6 = append(m.Dropped6, na)
		}
	}
	if m.Len() == 0 {
		return
	}
	b, err := bencode.Marshal(&m)
	if err != nil {
		t.log.Error("encoding ut_pex", "err", err)
		return
	}
	h.p.Send(b)
}

// Message takes the peers a PEX message adds, within the bounds above.
func (h *pexHandler) Message(payload []byte) error {
	if h.stopped {
		return nil
	}
	t := h.c.t
	now := time.Now()
	if len(payload) > pexMaxPayload || !h.lastIn.IsZero() && now.Sub(h.lastIn) < t.cl.cfg.pexInterval/2 {
		return nil // too big or too soon: ignored, as libtorrent does
	}
	h.lastIn = now
	added, err := decodePEX(payload)
	if err != nil {
		return err
	}
	room := min(maxKnownPeers/2-len(t.known), pexMaxDelta)
	if room <= 0 {
		return nil
	}
	t.addCandidates(added[:min(len(added), room)])
	return nil
}

// decodePEX returns the peers a ut_pex message adds, IPv4 then IPv6, at
// most pexMaxDelta of them; the rest of a longer message is ignored.
func decodePEX(payload []byte) ([]netip.AddrPort, error) {
	m, err := pp.LoadPexMsg(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: ut_pex: %w", ErrProtocol, err)
	}
	out := make([]netip.AddrPort, 0, min(m.Len(), pexMaxDelta))
	for _, list := range [][]krpc.NodeAddr{[]krpc.NodeAddr(m.Added), []krpc.NodeAddr(m.Added6)} {
		for _, na := range list {
			if len(out) >= pexMaxDelta {
				return out, nil
			}
			ip, ok := netip.AddrFromSlice(na.IP)
			if !ok || na.Port <= 0 || na.Port >= 1<<16 {
				continue
			}
			out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(na.Port)))
		}
	}
	return out, nil
}

func extNames(exts []Extension) []string {
	names := make([]string, len(exts))
	for i, e := range exts {
		names[i] = e.Name()
	}
	return names
}
