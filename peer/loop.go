package peer

import (
	"fmt"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// minRechokeGap is the least time between two rechokes asked for by
// RequestRechoke.
const minRechokeGap = 20 * time.Millisecond

// run is the torrent's loop.
//
// Its timers run only while there is work for them (see schedule): an
// idle torrent — no connection, no dial under way or due, nothing to
// download — has none armed, and costs no CPU until something is posted
// to it.
func (t *Torrent) run() {
	defer close(t.loopDone)
	t.tickT = time.NewTimer(time.Hour)
	t.tickT.Stop()
	defer t.tickT.Stop()
	t.rechokeT = time.NewTimer(time.Hour)
	t.rechokeT.Stop()
	defer t.rechokeT.Stop()
	t.refill = time.NewTimer(time.Hour)
	t.refill.Stop()
	defer t.refill.Stop()
	t.soon = time.NewTimer(time.Hour)
	t.soon.Stop()
	defer t.soon.Stop()
	t.schedule(time.Now())
	for {
		select {
		case ev := <-t.events:
			t.handle(takeEvent(ev))
		case ev := <-t.connEvents: // nil, never ready, before the first connection
			t.handle(takeEvent(ev))
		case <-t.diskWake:
			t.fillAll()
		case <-t.mail.wake:
			t.mail.run(false)
		case <-t.refill.C:
			t.refillSet = false
			t.fillAll()
		case now := <-t.tickT.C:
			t.timerFires++
			t.tickAt = time.Time{}
			t.tick(now)
		case now := <-t.rechokeT.C:
			t.timerFires++
			t.rechokeAt = time.Time{}
			t.rechoke(now)
		case <-t.soon.C:
			t.soonSet = false
		case <-t.ctx.Done():
			t.shutdown()
			return
		}
		if t.rechokeDue {
			// A rechoke asked for (a new peer, a new bid, a payment):
			// at once, unless two ran within minRechokeGap already —
			// then once that gap has passed — so that a burst of bids
			// costs one rechoke, a new peer's bid right after its
			// interest is not delayed, and a lone bid does not wait
			// for the next interval.
			if wait := minRechokeGap - time.Since(t.prevChoke); wait <= 0 {
				t.rechoke(time.Now())
			} else if !t.soonSet {
				t.soonSet = true
				t.soon.Reset(wait)
			}
		}
		t.schedule(time.Now())
	}
}

// schedule arms or stops the tick and rechoke timers for what the torrent
// has to do. The tick runs every second while the torrent has connections,
// dials under way or pieces to fetch (a leecher, or a magnet link without
// its info): rates, request timeouts, refills and dials as before. An
// idle seeder's tick is only for its next dial — when the earliest known
// peer that is neither connected nor being dialed may be retried — and a
// paused or peerless one has no tick at all. The rechoke runs every
// RechokeInterval while there are connections, and once more after the
// last has gone (so the policy forgets it), then stops; a peer's
// interest asks for one at once (rechokeDue), and the periodic one
// resumes an interval after the first connection.
func (t *Torrent) schedule(now time.Time) {
	var tickAt time.Time
	switch {
	case len(t.conns) > 0 || t.dialing > 0 || t.picker == nil || !t.picker.Complete():
		tickAt = t.tickAt // as armed, or in a second
		if tickAt.IsZero() {
			tickAt = now.Add(time.Second)
		}
	case !t.paused():
		for _, cand := range t.known {
			if !cand.connected && !cand.dialing && (tickAt.IsZero() || cand.nextTry.Before(tickAt)) {
				tickAt = cand.nextTry
			}
		}
		if !tickAt.IsZero() {
			// Not before the next whole second the ticker would have
			// had, and never in the past (the dial it is for runs
			// then).
			if soonest := now.Add(time.Second); tickAt.Before(soonest) {
				tickAt = soonest
			}
			if !t.tickAt.IsZero() && t.tickAt.Before(tickAt) {
				tickAt = t.tickAt
			}
		}
	}
	if !tickAt.Equal(t.tickAt) {
		t.tickAt = tickAt
		if tickAt.IsZero() {
			t.tickT.Stop()
		} else {
			t.tickT.Reset(tickAt.Sub(now))
		}
	}
	var rechokeAt time.Time
	if len(t.conns) > 0 || t.chokedPeers > 0 {
		rechokeAt = t.rechokeAt
		if rechokeAt.IsZero() {
			rechokeAt = now.Add(t.cl.cfg.RechokeInterval)
		}
	}
	if !rechokeAt.Equal(t.rechokeAt) {
		t.rechokeAt = rechokeAt
		if rechokeAt.IsZero() {
			t.rechokeT.Stop()
		} else {
			t.rechokeT.Reset(rechokeAt.Sub(now))
		}
	}
}

func (t *Torrent) shutdown() {
	for _, c := range t.conns {
		c.close(nil)
	}
	// Drain events until every goroutine that might post has ended. No
	// goroutine starts after this (ExtPeer.Go): the WaitGroup's count
	// only falls.
	t.mail.stopGo()
	finished := make(chan struct{})
	go func() { t.wg.Wait(); close(finished) }()
	if t.disk != nil {
		t.disk.close()
	}
	for {
		select {
		case p := <-t.events:
			dropEvent(takeEvent(p))
		case p := <-t.connEvents:
			dropEvent(takeEvent(p))
		case <-t.mail.wake:
			t.mail.run(false)
		case <-finished:
			// What was posted runs while the connections are still
			// there; nothing posted from now on is taken.
			t.mail.run(true)
			for _, c := range t.conns {
				t.dropConn(c)
			}
			if st := t.storage(); st != nil {
				if err := st.Close(); err != nil {
					t.log.Warn("closing storage", "err", err)
				}
			}
			return
		}
	}
}

// dropEvent disposes of an event posted during the shutdown: a block goes
// back to its pool, a new connection is closed, a function runs.
func dropEvent(ev event) {
	switch ev.kind {
	case evMsg:
		if ev.msg.Type == pp.Piece {
			putBlock(ev.msg.Piece)
		}
	case evNewConn:
		_ = ev.nc.Close()
	case evFunc:
		ev.fn()
	}
}

func (t *Torrent) handle(ev event) {
	switch ev.kind {
	case evMsg:
		if _, ok := t.conns[ev.c.id]; !ok || ev.c.ls.connectedAt.IsZero() {
			if ev.msg.Type == pp.Piece {
				putBlock(ev.msg.Piece)
			}
			return
		}
		if err := t.onMessage(ev.c, ev.msg); err != nil {
			t.log.Debug("dropping peer", "peer", ev.c.addr, "err", err)
			ev.c.close(err)
		}
	case evConnClosed:
		t.connClosed(ev.c)
		t.dropConn(ev.c)
	case evNewConn:
		t.dialing -= btoi(ev.outgoing)
		if cand := t.known[ev.addr]; cand != nil && ev.outgoing {
			cand.dialing = false
		}
		if t.paused() {
			_ = ev.nc.Close()
			break
		}
		last := t.nextID
		t.addConn(ev.nc, ev.hs, ev.outgoing, ev.addr)
		if t.nextID != last {
			t.connAdded(t.conns[t.nextID])
		}
	case evDialFailed:
		t.dialing--
		if cand := t.known[ev.addr]; cand != nil {
			cand.dialing = false
			cand.fails++
			cand.nextTry = time.Now().Add(time.Duration(min(cand.fails, 6)) * 15 * time.Second)
		}
		// Dial the next at once, not at the next tick: among many dead
		// addresses a live one would otherwise wait 25 dials a second.
		if !t.paused() {
			t.dialMore(time.Now())
		}
	case evHashDone:
		t.onHashed(ev.piece, ev.ok, ev.hashes, ev.err)
	case evStorageErr:
		t.fail(fmt.Errorf("storage: %w", ev.err))
	case evFunc:
		ev.fn()
	}
}

// tick runs every second: rates, request timeouts, dialing.
func (t *Torrent) tick(now time.Time) {
	for _, c := range t.conns {
		up, down := c.uploaded.Load(), c.downloaded.Load()
		ls := &c.ls
		ls.ringIdx = (ls.ringIdx + 1) % len(ls.upRing)
		ls.upRing[ls.ringIdx] = up - ls.lastUp
		ls.downRing[ls.ringIdx] = down - ls.lastDown
		ls.lastSecondDown = down - ls.lastDown
		ls.ticks++
		ls.lastUp, ls.lastDown = up, down
	}
	t.closeSeeds()
	if t.picker != nil {
		// No request times out while our disk holds the readers back
		// (diskQueue.readersHeld): what answers it may be in the socket.
		if t.disk == nil || !t.disk.readersHeld(now, t.cl.cfg.RequestTimeout) {
			for _, r := range t.picker.Expire(now, nil) {
				if c := t.conns[PeerID(r.Peer)]; c != nil {
					c.send(msgBlock(pp.Cancel, r.Block))
				}
			}
		}
		t.fillAll()
	} else {
		t.requestMetadata()
	}
	if !t.paused() {
		t.dialMore(now)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
