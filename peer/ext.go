package peer

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"net/netip"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/piece"
)

// Extension is a BEP 10 extension protocol that the engine carries for its
// user, such as btt_speed. Register it in Config.Extensions; the engine
// advertises it in every extended handshake and routes its messages, so a
// new extension needs no change to the engine.
//
// Every method is called on the torrent's loop goroutine and must not
// block.
type Extension interface {
	// Name is the extension's key in the handshake's "m" dictionary.
	Name() string
	// HandshakeKeys returns extra keys for our extended handshake on
	// torrent t (values must bencode); nil adds none.
	HandshakeKeys(t *Torrent) map[string]any
	// Attach is called when a peer's extended handshake lists the
	// extension. hs holds the peer's whole handshake dictionary, raw. It
	// returns the handler of the peer's messages, or an error to drop the
	// peer.
	Attach(p ExtPeer, hs map[string]bencode.Bytes) (ExtHandler, error)
}

// ExtHandler handles one peer's messages of one extension.
type ExtHandler interface {
	// Message handles a message's payload. An error closes the
	// connection. The payload is one bencoded value nested at most
	// bencheck.MaxDepth deep: the engine closes the connection of a peer
	// that sends anything else before Message is called.
	Message(payload []byte) error
	// Closed is called once when the connection ends.
	Closed()
}

// ChokeStatter is implemented by handlers that take part in choking, as
// btt_speed does with bids and credit: ChokeStat fills in the peer's
// snapshot before each rechoke, and Decided receives the outcome.
type ChokeStatter interface {
	ChokeStat(ps *choker.PeerStat)
	Decided(o choker.Outcome, clearing btt.Amount)
}

// ServeGate is implemented by handlers that may hold back uploads to their
// peer, as btt_speed does with a payer at its credit. MayServe is asked
// before block b is queued for the peer; Hold keeps the request back, in
// order, until the handler calls ExtPeer.ServeHeld (after a payment, say),
// when MayServe is asked again. Held requests count against
// Config.MaxQueuedRequests; a choke or a cancel ends them as it ends
// queued ones.
type ServeGate interface {
	MayServe(b piece.Block) Verdict
}

// Verdict is a ServeGate's answer for one requested block.
type Verdict uint8

const (
	// Hold keeps the request back until ExtPeer.ServeHeld.
	Hold Verdict = iota
	// Serve queues the block.
	Serve
	// ServeFree queues the block and, once it is sent, counts its bytes
	// in ExtPeer.UploadedFree as well as in Uploaded: btt_speed serves
	// again, without charging, a piece its payer has paid for before.
	ServeFree
)

// String returns the verdict's name.
func (v Verdict) String() string {
	switch v {
	case Hold:
		return "hold"
	case Serve:
		return "serve"
	case ServeFree:
		return "serve-free"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// PieceObserver is implemented by handlers that want to know when a piece
// their peer sent blocks of passed its hash check, and how many of its bytes
// came from the peer — what btt_speed pays for. Pieces that fail are never
// reported.
type PieceObserver interface {
	PieceVerified(piece int, bytes int64)
}

// Busy is implemented by handlers that may have work in flight for their
// peer (btt_speed: a voucher being signed). The engine keeps a connection it
// would otherwise close as pointless (both sides seeding) until no handler
// is busy.
type Busy interface {
	Busy() bool
}

// Settler is implemented by handlers that may have work for their peer
// that closing must not lose (btt_speed: a voucher due, being signed, or
// signed and not yet sent: the seller is owed it). Closing a torrent asks
// each such handler, on the loop, until none is unsettled, for at most
// Config.CloseTimeout; the connections whose handlers were unsettled then
// close only once they have sent what is queued for them.
type Settler interface {
	// Unsettled reports whether the handler still has such work. It may
	// start it (say, sign what is due). A handler that sends its peer
	// something in Unsettled reports true that time, so that the
	// connection is among those that send what is queued before closing.
	Unsettled() bool
}

// ExtPeer is what an extension handler can do with its peer.
type ExtPeer interface {
	// ID is the peer's id in the torrent (what the choker sees).
	ID() PeerID
	// Addr is the peer's address.
	Addr() netip.AddrPort
	// Torrent is the torrent the peer is connected for.
	Torrent() *Torrent
	// Send sends a message of this extension to the peer.
	Send(payload []byte)
	// Close drops the peer with err.
	Close(err error)
	// Uploaded and Downloaded are the payload bytes sent to and received
	// from the peer on this connection; safe from any goroutine.
	Uploaded() int64
	Downloaded() int64
	// UploadedFree is the part of Uploaded sent for blocks a ServeGate
	// passed with ServeFree; safe from any goroutine.
	UploadedFree() int64
	// Go runs f in a new goroutine that ends with the torrent (its ctx is
	// cancelled then); f reports back through Do. For chain calls, which
	// must never run on the loop.
	Go(f func(ctx context.Context))
	// RequestRechoke asks for a rechoke soon (say, after a new bid).
	RequestRechoke()
	// PeerHas reports whether the peer has announced piece i.
	PeerHas(i int) bool
	// Requested is the payload we have asked the peer for and not yet
	// received, in whole blocks: what it may have sent, or be about to
	// send, that Downloaded does not count yet. Call it on the torrent's
	// loop (from a handler method, or in a function passed to Do).
	Requested() int64
	// ServeHeld serves, in order, the requests a ServeGate held back
	// that it now allows; it stops at the first it still holds.
	ServeHeld()
	// Do runs f on the torrent's loop; it is how results of work started
	// with Go come back. Call it from such a goroutine, never from the
	// loop itself (a handler method): it waits for the loop. It gives up
	// when the torrent stops.
	Do(f func())
}

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
func (p extPeer) Go(f func(ctx context.Context)) {
	t := p.c.t
	if t.ctx.Err() != nil {
		return
	}
	t.wg.Go(func() { f(t.ctx) })
}
func (p extPeer) RequestRechoke() { p.c.t.rechokeDue = true }
func (p extPeer) Requested() int64 {
	t := p.c.t
	if t.picker == nil {
		return 0
	}
	return int64(t.picker.InFlight(piece.PeerID(p.c.id))) * piece.BlockSize
}
func (p extPeer) ServeHeld() { p.c.t.serveHeld(p.c) }
func (p extPeer) PeerHas(i int) bool {
	t := p.c.t
	return t.picker != nil && t.picker.PeerHas(piece.PeerID(p.c.id), i)
}
func (p extPeer) Do(f func()) { p.c.t.post(event{kind: evFunc, fn: f}) }

// Local extension numbers: 0 is the handshake, 1 is ut_metadata, then the
// configured extensions in order.
const localMetadataID pp.ExtensionNumber = 1

func localExtID(i int) pp.ExtensionNumber { return pp.ExtensionNumber(2 + i) }

// maxMetadataSize bounds the info dictionary a magnet link may fetch.
const maxMetadataSize = 16 << 20

// metadataPiece is BEP 9's piece size.
const metadataPiece = 16 << 10

func (t *Torrent) extendedHandshake() []byte {
	m := map[string]int{"ut_metadata": int(localMetadataID)}
	for i, e := range t.cl.cfg.Extensions {
		m[e.Name()] = int(localExtID(i))
	}
	d := map[string]any{
		"m":    m,
		"v":    "bttspeed 0.1",
		"reqq": t.cl.cfg.MaxQueuedRequests,
	}
	if p := t.cl.Addr().Port(); p != 0 {
		d["p"] = int(p)
	}
	if t.infoBytes != nil {
		d["metadata_size"] = len(t.infoBytes)
	}
	for _, e := range t.cl.cfg.Extensions {
		for k, v := range e.HandshakeKeys(t) {
			if _, taken := d[k]; !taken {
				d[k] = v
			}
		}
	}
	payload, err := bencode.Marshal(d)
	if err != nil {
		// Only an extension's unencodable key can cause this.
		t.log.Error("encoding extended handshake", "err", err)
		payload, _ = bencode.Marshal(map[string]any{"m": m})
	}
	return msgExtended(0, payload)
}

func (t *Torrent) onExtended(c *conn, id pp.ExtensionNumber, payload []byte) error {
	if !c.ltep {
		return fmt.Errorf("%w: extended message without BEP 10", ErrProtocol)
	}
	if id == 0 {
		return t.onExtendedHandshake(c, payload)
	}
	if id == localMetadataID {
		return t.onMetadata(c, payload)
	}
	if h := c.ls.handlers[id]; h != nil {
		return h.Message(payload)
	}
	// A message for an extension we do not have, or one the peer did not
	// name: ignore it, as BEP 10 allows.
	return nil
}

// A peer's extended handshake may name any number of extensions; of those
// we do not speak we keep at most maxPeerExtensions names of at most
// maxExtensionName bytes.
const (
	maxPeerExtensions = 32
	maxExtensionName  = 64
)

// speaks reports whether name is an extension we speak.
func (t *Torrent) speaks(name string) bool {
	if name == "ut_metadata" {
		return true
	}
	for _, e := range t.cl.cfg.Extensions {
		if e.Name() == name {
			return true
		}
	}
	return false
}

func (t *Torrent) onExtendedHandshake(c *conn, payload []byte) error {
	if c.ls.extIDs != nil {
		return fmt.Errorf("%w: second extended handshake", ErrProtocol)
	}
	var raw map[string]bencode.Bytes
	if err := bencode.Unmarshal(payload, &raw); err != nil {
		return fmt.Errorf("%w: extended handshake: %v", ErrProtocol, err)
	}
	var m map[string]int64
	if b, ok := raw["m"]; ok {
		if err := bencode.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%w: extended handshake m: %v", ErrProtocol, err)
		}
	}
	c.ls.extIDs = make(map[string]pp.ExtensionNumber)
	others := 0
	for name, n := range m {
		if n <= 0 || n > 255 {
			continue // 0 disables; out of range is ignored
		}
		if !t.speaks(name) {
			// Kept only to show in PeerInfo: a few, short.
			if others >= maxPeerExtensions || len(name) > maxExtensionName {
				continue
			}
			others++
		}
		c.ls.extIDs[name] = pp.ExtensionNumber(n)
	}
	if b, ok := raw["metadata_size"]; ok {
		var size int64
		if err := bencode.Unmarshal(b, &size); err == nil && size > 0 && size <= maxMetadataSize {
			c.ls.metadataSize = int(size)
		}
	}
	c.ls.reqq = parseReqq(raw)
	c.ls.metadataID = c.ls.extIDs["ut_metadata"]
	for i, e := range t.cl.cfg.Extensions {
		theirID, ok := c.ls.extIDs[e.Name()]
		if !ok {
			continue
		}
		h, err := e.Attach(extPeer{c: c, id: theirID}, raw)
		if err != nil {
			return fmt.Errorf("extension %s: %w", e.Name(), err)
		}
		if h != nil {
			if c.ls.handlers == nil {
				c.ls.handlers = make(map[pp.ExtensionNumber]ExtHandler)
			}
			c.ls.handlers[localExtID(i)] = h
		}
	}
	if t.picker == nil {
		t.requestMetadata()
	}
	return nil
}

// maxReqq bounds the queue depth we believe a peer's reqq: past it, the
// pipeline's own limit applies anyway.
const maxReqq = 1 << 16

// parseReqq returns the request queue depth a BEP 10 handshake advertises
// (its reqq), or zero when it gives none we can use: absent, not an
// integer, or not positive.
func parseReqq(raw map[string]bencode.Bytes) int {
	b, ok := raw["reqq"]
	if !ok || len(b) == 0 || b[0] != 'i' {
		return 0 // the decoder would take a list's first integer
	}
	var n int64
	if err := bencode.Unmarshal(b, &n); err != nil || n <= 0 {
		return 0
	}
	return int(min(n, maxReqq))
}

// metadataFetch assembles the info dictionary from BEP 9 pieces, from one
// peer at a time: a peer that lies about the size, sends junk, rejects or
// stays silent is found out — banned for junk, passed over otherwise — and
// the next one is asked. (Asking several at once for pieces of one size
// let a single peer that lied about the size hold the download up for
// good.)
type metadataFetch struct {
	from     PeerID // the peer we fetch from; 0 while none
	size     int
	buf      []byte
	got      []bool
	progress time.Time       // when from was asked, or last sent a piece
	tried    map[PeerID]bool // peers that rejected or did not answer
}

type metadataMsg struct {
	Type      int `bencode:"msg_type"`
	Piece     int `bencode:"piece"`
	TotalSize int `bencode:"total_size,omitempty"`
}

// requestMetadata asks a peer for the info dictionary, unless one is
// answering: it asks for every piece at once, from the first peer that
// offers the metadata and has not failed us; it moves on from a peer that
// went away or sent nothing for RequestTimeout.
func (t *Torrent) requestMetadata() {
	if t.picker != nil {
		return
	}
	mf := &t.meta
	if mf.from != 0 {
		if t.conns[mf.from] != nil && time.Since(mf.progress) < t.cl.cfg.RequestTimeout {
			return
		}
		t.metadataFailed(mf.from, "no answer")
	}
	var pick *conn
	for _, c := range t.conns {
		if c.ls.metadataID != 0 && c.ls.metadataSize > 0 && !mf.tried[c.id] && (pick == nil || c.id < pick.id) {
			pick = c
		}
	}
	if pick == nil {
		if len(mf.tried) > 0 {
			// Everyone failed once: give them another chance next time.
			clear(mf.tried)
		}
		return
	}
	mf.from, mf.size, mf.progress = pick.id, pick.ls.metadataSize, time.Now()
	mf.buf = make([]byte, mf.size)
	mf.got = make([]bool, (mf.size+metadataPiece-1)/metadataPiece)
	for i := range mf.got {
		payload, _ := bencode.Marshal(metadataMsg{Type: 0, Piece: i})
		pick.send(msgExtended(pick.ls.metadataID, payload))
	}
}

// metadataFailed gives up fetching the metadata from peer id.
func (t *Torrent) metadataFailed(id PeerID, why string) {
	mf := &t.meta
	if c := t.conns[id]; c != nil {
		t.log.Debug("fetching the metadata elsewhere", "peer", c.addr, "why", why)
	}
	if mf.tried == nil {
		mf.tried = make(map[PeerID]bool)
	}
	mf.tried[id] = true
	*mf = metadataFetch{tried: mf.tried}
}

func (t *Torrent) onMetadata(c *conn, payload []byte) error {
	msg, data, err := decodeMetadataMsg(payload)
	if err != nil {
		return err
	}
	switch msg.Type {
	case 0: // request
		if c.ls.metadataID == 0 {
			return nil
		}
		// Compare piece numbers, not offsets: a huge piece number times
		// the piece size overflows.
		// A peer that asks faster than it reads gets rejects (and is
		// dropped if it goes on): metadata pieces are 16 KiB each.
		if t.infoBytes == nil || msg.Piece < 0 || msg.Piece >= (len(t.infoBytes)+metadataPiece-1)/metadataPiece || c.queuedMessageBytes() > maxQueuedBytes/2 {
			reply, _ := bencode.Marshal(metadataMsg{Type: 2, Piece: msg.Piece})
			c.send(msgExtended(c.ls.metadataID, reply))
			return nil
		}
		end := min(len(t.infoBytes), (msg.Piece+1)*metadataPiece)
		reply, _ := bencode.Marshal(metadataMsg{Type: 1, Piece: msg.Piece, TotalSize: len(t.infoBytes)})
		reply = append(reply, t.infoBytes[msg.Piece*metadataPiece:end]...)
		c.send(msgExtended(c.ls.metadataID, reply))
	case 1: // data
		mf := &t.meta
		if t.picker != nil || c.id != mf.from || msg.Piece < 0 || msg.Piece >= len(mf.got) || mf.got[msg.Piece] {
			return nil // unasked for; ignore
		}
		want := min(metadataPiece, mf.size-msg.Piece*metadataPiece)
		if len(data) != want {
			return fmt.Errorf("%w: ut_metadata piece %d has %d bytes, want %d", ErrProtocol, msg.Piece, len(data), want)
		}
		copy(mf.buf[msg.Piece*metadataPiece:], data)
		mf.got[msg.Piece] = true
		mf.progress = time.Now()
		for _, g := range mf.got {
			if !g {
				return nil
			}
		}
		if sha1.Sum(mf.buf) != t.ih {
			// An honest peer's metadata always hashes to the info hash.
			t.metadataFailed(c.id, "metadata does not match the info hash")
			t.ban(c, fmt.Sprintf("its metadata (%d bytes) does not match the info hash", mf.size))
			t.requestMetadata()
			return nil
		}
		if err := t.setInfo(mf.buf); err != nil {
			t.fail(err)
			return nil
		}
	case 2: // reject
		if c.id == t.meta.from && t.picker == nil {
			t.metadataFailed(c.id, "rejected")
			t.requestMetadata()
		}
	default:
		// Unknown types are ignored (BEP 9).
	}
	return nil
}

// decodeMetadataMsg decodes a ut_metadata message: its dictionary, and the
// data after it (a piece's bytes). A message without msg_type or piece
// comes back with Type -1, which no case handles: ignored, as BEP 9 has
// unknown messages be.
func decodeMetadataMsg(payload []byte) (metadataMsg, []byte, error) {
	var in struct {
		Type      *int `bencode:"msg_type"`
		Piece     *int `bencode:"piece"`
		TotalSize int  `bencode:"total_size"`
	}
	d := bencode.NewDecoder(bytes.NewReader(payload))
	if err := d.Decode(&in); err != nil {
		return metadataMsg{}, nil, fmt.Errorf("%w: ut_metadata: %v", ErrProtocol, err)
	}
	if in.Type == nil || in.Piece == nil {
		return metadataMsg{Type: -1}, nil, nil
	}
	return metadataMsg{Type: *in.Type, Piece: *in.Piece, TotalSize: in.TotalSize}, payload[d.Offset:], nil
}

// setInfo installs the info dictionary: storage opens, the picker starts,
// and peers learn what we have.
func (t *Torrent) setInfo(infoBytes []byte) error {
	var info metainfo.Info
	if err := bencode.Unmarshal(infoBytes, &info); err != nil {
		return fmt.Errorf("%w: info: %v", ErrBadTorrent, err)
	}
	st, err := t.openStorage(&info)
	if err != nil {
		return err
	}
	return t.start(&info, infoBytes, st)
}
