package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

func (cl *Client) acceptLoop() {
	var tempDelay time.Duration
	for {
		nc, err := cl.ln.Accept()
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
		// descriptors for HandshakeTimeout each.
		if cl.conns.Load() >= int64(cl.cfg.MaxConns) || cl.handshaking.Load() >= int64(cl.cfg.MaxConns) {
			cl.log.Debug("refusing incoming connection", "peer", nc.RemoteAddr(), "err", ErrLimit)
			_ = nc.Close()
			continue
		}
		cl.handshaking.Add(1)
		cl.wg.Go(func() {
			defer cl.handshaking.Add(-1)
			cl.handleIncoming(nc)
		})
	}
}

// handleIncoming runs the handshake of a connection a peer opened and hands
// it to its torrent.
func (cl *Client) handleIncoming(nc net.Conn) {
	ctx, cancel := context.WithTimeout(cl.ctx, cl.cfg.HandshakeTimeout)
	defer cancel()
	stop := deadlineFromContext(ctx, nc)
	raw := nc
	nc, res, err := acceptHandshake(ctx, nc, cl.cfg.Encryption, cl.infoHashes)
	var t *Torrent
	if err == nil {
		cl.mu.Lock()
		t = cl.torrents[res.infoHash]
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
