package peer

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
)

// Stats is a snapshot of a torrent's progress.
type Stats struct {
	// Pieces is the number of pieces (0 before the info is known);
	// PiecesDone how many we have verified.
	Pieces, PiecesDone int
	// Length is the torrent's size; Left the bytes we still lack.
	Length, Left int64
	// Downloaded and Uploaded count payload bytes this session;
	// Wasted counts bytes received that were not wanted.
	Downloaded, Uploaded, Wasted int64
	// WebSeedDownloaded is the part of Downloaded that came from BEP 19
	// web seeds.
	WebSeedDownloaded int64
	// DownRate and UpRate are the sums of the peers' rates, in bytes per
	// second over about 20 s.
	DownRate, UpRate int64
	// Peers is the number of connected peers.
	Peers int
	// Complete reports whether every piece is verified.
	Complete bool
}

// PeerInfo describes one connected peer.
type PeerInfo struct {
	ID       PeerID
	Addr     netip.AddrPort
	PeerID   [20]byte
	Outgoing bool
	// Fast and Extended report BEP 6 and BEP 10 support on both sides.
	Fast, Extended bool
	// AmChoking etc. are the four BEP 3 flags.
	AmChoking, AmInterested, PeerChoking, PeerInterested bool
	// Have is the number of pieces the peer has.
	Have                 int
	Seed                 bool
	Downloaded, Uploaded int64
	DownRate, UpRate     int64
	ConnectedAt          time.Time
	// Extensions lists the BEP 10 extensions the peer named.
	Extensions []string
	// Transport is what the connection runs over: "tcp" or "utp" (BEP
	// 29); with Config.Dial, the network its connection's LocalAddr names.
	Transport string
	// Encrypted reports RC4 on the stream (MSE/PE); a connection that
	// ran the MSE handshake and chose plaintext is not encrypted.
	Encrypted bool
}

// transport names what nc runs over, for PeerInfo.Transport.
func transport(nc net.Conn) string {
	if isUTP(nc) {
		return "utp"
	}
	if m, ok := nc.(*mseConn); ok {
		nc = m.Conn
	}
	if a := nc.LocalAddr(); a != nil {
		return a.Network()
	}
	return ""
}

// encrypted reports whether nc's stream is RC4 (MSE), for
// PeerInfo.Encrypted.
func encrypted(nc net.Conn) bool {
	m, ok := nc.(*mseConn)
	return ok && m.method == mse.CryptoMethodRC4
}

// Stats returns the torrent's progress, or ErrClosed once it has stopped.
func (t *Torrent) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := t.do(ctx, func() {
		now := time.Now()
		s.Downloaded, s.Uploaded, s.Wasted = t.downloaded.Load(), t.uploadedTotal(), t.wasted
		s.WebSeedDownloaded = t.webSeedDownloaded()
		s.Peers = len(t.conns)
		for _, c := range t.conns {
			up, down := c.ls.rates(now)
			s.UpRate += up
			s.DownRate += down
		}
		if t.picker != nil {
			s.Pieces = t.layout.NumPieces()
			s.PiecesDone = t.picker.Have().Count()
			s.Length = t.layout.Length
			s.Left = t.picker.Left()
			s.Complete = t.picker.Complete()
		}
	})
	return s, err
}

func (t *Torrent) uploadedTotal() int64 {
	var n int64
	for _, c := range t.conns {
		n += c.uploaded.Load()
	}
	return n + t.uploaded.Load()
}

// Peers returns the connected peers.
func (t *Torrent) Peers(ctx context.Context) ([]PeerInfo, error) {
	var out []PeerInfo
	err := t.do(ctx, func() {
		now := time.Now()
		for _, c := range t.conns {
			up, down := c.ls.rates(now)
			pi := PeerInfo{
				ID: c.id, Addr: c.addr, PeerID: c.peerID, Outgoing: c.outgoing,
				Fast: c.fast, Extended: c.ltep,
				AmChoking: c.ls.amChoking, AmInterested: c.ls.amInterested,
				PeerChoking: c.ls.peerChoking, PeerInterested: c.ls.peerInterested,
				Have: c.ls.have, Seed: c.ls.seed,
				Downloaded: c.downloaded.Load(), Uploaded: c.uploaded.Load(),
				DownRate: down, UpRate: up, ConnectedAt: c.ls.connectedAt,
				Transport: transport(c.nc), Encrypted: encrypted(c.nc),
			}
			for name := range c.ls.extIDs {
				pi.Extensions = append(pi.Extensions, name)
			}
			out = append(out, pi)
		}
	})
	return out, err
}

// Info returns the info dictionary, or nil before it is known.
func (t *Torrent) Info(ctx context.Context) (*metainfo.Info, error) {
	var info *metainfo.Info
	err := t.do(ctx, func() { info = t.info })
	return info, err
}
