package peer

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// acceptLoop accepts peers on ln (the TCP listener, or the uTP socket)
// until it is closed.
func (cl *Client) acceptLoop(ln net.Listener) {
	var tempDelay time.Duration
	var pending handshakeQueue
	for {
		nc, err := ln.Accept()
		if err != nil {
			if cl.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return // closed
			}
			// Out of file descriptors and the like: back off, as
			// net/http does.
			tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(tempDelay):
			case <-cl.ctx.Done():
				return
			}
			continue
		}
		tempDelay = 0
		// Connections still in their handshake count too, up to
		// MaxConns of them: a flood of connections that never finish
		// the handshake costs at most that many goroutines and
		// descriptors for HandshakeTimeout each. At that bound the
		// oldest of this listener's handshakes is dropped for the new
		// one, as a SYN queue drops its oldest: flooding connections
		// that never speak (uTP SYNs cost a flooder one packet each)
		// cannot lock out a peer that handshakes at once.
		if cl.conns.Load() >= int64(cl.cfg.MaxConns) || cl.handshaking.Load() >= int64(cl.cfg.MaxConns) && !pending.dropOldest() {
			cl.log.Debug("refusing incoming connection", "peer", nc.RemoteAddr(), "err", ErrLimit)
			_ = nc.Close()
			continue
		}
		cl.handshaking.Add(1)
		el := pending.add(nc)
		cl.wg.Go(func() {
			defer cl.handshaking.Add(-1)
			cl.handleIncoming(nc, func() { pending.remove(el) })
		})
	}
}

// handshakeQueue is a listener's connections in their handshake, oldest
// first.
type handshakeQueue struct {
	mu sync.Mutex
	l  list.List // of net.Conn
}

func (q *handshakeQueue) add(nc net.Conn) *list.Element {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.l.PushBack(nc)
}

// remove takes a connection whose handshake ended off the queue.
func (q *handshakeQueue) remove(el *list.Element) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if el.Value != nil {
		q.l.Remove(el)
		el.Value = nil
	}
}

// dropOldest closes the oldest connection in its handshake (its handshake
// then fails at once); false if there is none.
func (q *handshakeQueue) dropOldest() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	el := q.l.Front()
	if el == nil {
		return false
	}
	q.l.Remove(el)
	nc := el.Value.(net.Conn)
	el.Value = nil
	_ = nc.Close()
	return true
}

// handleIncoming runs the handshake of a connection a peer opened and hands
// it to its torrent.
func (cl *Client) handleIncoming(nc net.Conn, done func()) {
	ctx, cancel := context.WithTimeout(cl.ctx, cl.cfg.HandshakeTimeout)
	defer cancel()
	stop := deadlineFromContext(ctx, nc)
	raw := nc
	nc, res, err := acceptHandshake(ctx, nc, cl.cfg.Encryption, cl.infoHashes)
	var t *Torrent
	if err == nil {
		cl.mu.Lock()
		t = cl.torrents[res.infoHash]
		if t == nil {
			t = cl.v2alias[res.infoHash] // a hybrid, by its v2 name
		}
		cl.mu.Unlock()
		if t == nil {
			err = fmt.Errorf("%w: %s", ErrUnknownTorrent, res.infoHash.HexString())
		}
	}
	if err == nil {
		err = writeHandshake(nc, cl.ourExtensions(), res.infoHash, cl.peerID)
	}
	if err == nil {
		res.peerID, err = readPeerID(nc)
	}
	stop()
	done()
	if err != nil {
		if errors.Is(err, ErrEncryption) {
			cl.log.Info("connection refused", "peer", raw.RemoteAddr(), "reason", err)
		} else {
			cl.log.Debug("incoming handshake failed", "peer", raw.RemoteAddr(), "err", err)
		}
		_ = raw.Close()
		return
	}
	ap, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	if !t.post(event{kind: evNewConn, nc: nc, hs: res, addr: ap}) {
		_ = raw.Close()
	}
}
