package peer

import (
	"context"
	"net/netip"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

type extPeer struct {
	c  *conn
	id pp.ExtensionNumber // the peer's number for the extension
}

func (p extPeer) ID() PeerID           { return p.c.id }
func (p extPeer) Addr() netip.AddrPort { return p.c.addr }
func (p extPeer) Torrent() *Torrent    { return p.c.t }
func (p extPeer) Send(payload []byte)  { p.c.send(msgExtended(p.id, payload)) }
func (p extPeer) Close(err error)      { p.c.close(err) }
func (p extPeer) Uploaded() int64      { return p.c.uploaded.Load() }
func (p extPeer) Downloaded() int64    { return p.c.downloaded.Load() }
func (p extPeer) UploadedFree() int64  { return p.c.uploadedFree.Load() }
func (p extPeer) RequestRechoke()      { p.c.t.rechokeDue = true }
func (p extPeer) ServeHeld()           { p.c.t.serveHeld(p.c) }
func (p extPeer) Post(f func()) bool   { return p.c.t.postFunc(f) }

func (p extPeer) Go(f func(ctx context.Context)) bool { return p.c.t.goExt(f) }

func (p extPeer) Requested() int64 {
	t := p.c.t
	if t.picker == nil {
		return 0
	}
	return int64(t.picker.InFlight(piece.PeerID(p.c.id))) * piece.BlockSize
}

func (p extPeer) PeerHas(i int) bool {
	t := p.c.t
	return t.picker != nil && t.picker.PeerHas(piece.PeerID(p.c.id), i)
}

func (p extPeer) Do(f func()) bool {
	ran := make(chan struct{})
	if !p.c.t.postFunc(func() { f(); close(ran) }) {
		return false
	}
	<-ran // a function posted runs, on the loop or as it stops
	return true
}
