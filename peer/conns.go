package peer

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/bttspeed/bttspeed/piece"
)

func (t *Torrent) addConn(nc net.Conn, hs handshakeResult, outgoing bool, addr netip.AddrPort) {
	reject := func(err error) {
		t.log.Debug("refusing connection", "peer", addr, "err", err)
		_ = nc.Close()
	}
	switch {
	case hs.peerID == t.cl.peerID:
		if cand := t.known[addr]; cand != nil {
			delete(t.known, addr) // it is us: never dial it again
		}
		reject(ErrSelf)
		return
	case t.isBanned(addr) || t.bannedIDs[hs.peerID]:
		reject(ErrBanned)
		return
	}
	for _, c := range t.conns {
		if c.peerID != hs.peerID {
			continue
		}
		// Two connections to one peer (both dialed at once): both sides
		// keep the one opened by the side with the lower peer id, so they
		// never each drop the other's.
		weLow := bytes.Compare(t.cl.peerID[:], hs.peerID[:]) < 0
		if outgoing == weLow && c.outgoing != weLow {
			c.close(fmt.Errorf("%w: replaced by the connection the other side keeps", ErrDuplicate))
			t.dropConn(c)
			break
		}
		reject(ErrDuplicate)
		return
	}
	if len(t.conns) >= t.cl.cfg.MaxConnsPerTorrent {
		victim := t.evictable(time.Now())
		if victim == nil {
			reject(ErrLimit)
			return
		}
		// Full, but a peer has idled long enough without moving a byte
		// of payload: the newcomer replaces it, so that a flood of idle
		// connections cannot lock honest peers out.
		victim.close(fmt.Errorf("%w: replaced by a new peer after %v connected without payload", ErrLimit, time.Since(victim.ls.connectedAt).Round(time.Millisecond)))
		t.dropConn(victim)
	}
	if !t.cl.reserveConn() {
		reject(ErrLimit)
		return
	}
	t.nextID++
	c := newConn(t, nc, outgoing, hs)
	c.id = t.nextID
	if addr.IsValid() {
		c.addr = addr
	}
	c.ls = loopPeer{amChoking: true, peerChoking: true, connectedAt: time.Now()}
	t.conns[c.id] = c
	if cand := t.known[c.addr]; cand != nil {
		cand.connected = true
		cand.fails = 0
	}
	if t.connEvents == nil {
		t.connEvents = make(chan *event, maxQueuedEvents)
	}
	c.ev = t.connEvents
	t.wg.Go(c.writeLoop)
	t.wg.Go(func() {
		c.readLoop()
		t.postClosed(c)
	})
	if t.picker != nil {
		t.picker.AddPeer(piece.PeerID(c.id), piece.NewBitfield(t.layout.NumPieces()))
	}
	if c.ltep {
		c.send(t.extendedHandshake())
	}
	t.sendHaves(c)
	t.sendDHTPort(c, hs)
	t.log.Debug("peer connected", "peer", c.addr, "outgoing", outgoing, "fast", c.fast, "ltep", c.ltep)
}

// evictable returns the connection a new peer may replace in a full
// torrent: one connected for at least minEvictAge with no payload sent or
// received and no extension work in flight; of those, one that has sent
// us no message at all if any, and then the one connected longest. Nil if
// there is none.
func (t *Torrent) evictable(now time.Time) *conn {
	var best *conn
	silent := func(c *conn) bool { return !c.ls.gotBitfield && c.ls.extIDs == nil }
	for _, c := range t.conns {
		if now.Sub(c.ls.connectedAt) < t.cl.cfg.minEvictAge || c.uploaded.Load() > 0 || c.downloaded.Load() > 0 || c.busy() {
			continue
		}
		switch {
		case best == nil,
			silent(c) && !silent(best),
			silent(c) == silent(best) && c.ls.connectedAt.Before(best.ls.connectedAt):
			best = c
		}
	}
	return best
}

func (t *Torrent) dropConn(c *conn) {
	if _, ok := t.conns[c.id]; !ok {
		return
	}
	c.close(nil)
	delete(t.conns, c.id)
	t.uploaded.Add(c.uploaded.Load())
	t.cl.releaseConn()
	for _, h := range c.ls.handlers {
		h.Closed()
	}
	if t.picker != nil {
		t.picker.RemovePeer(piece.PeerID(c.id))
	}
	if cand := t.known[c.addr]; cand != nil {
		cand.connected = false
		cand.nextTry = time.Now().Add(30 * time.Second)
	}
	if err := c.Err(); err != nil && !errors.Is(err, ErrClosed) {
		t.log.Debug("peer gone", "peer", c.addr, "err", err)
	}
	t.fillAll()
}
