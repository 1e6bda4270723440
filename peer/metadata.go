package peer

import (
	"bytes"
	"fmt"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

// maxMetadataSize bounds the info dictionary a magnet link may fetch.
const maxMetadataSize = 16 << 20

// metadataPiece is BEP 9's piece size.
const metadataPiece = 16 << 10

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
		if !infoHashMatches(t.ih, mf.buf) {
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
