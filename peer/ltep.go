package peer

import (
	"fmt"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// Local extension numbers: 0 is the handshake, 1 is ut_metadata, then the
// configured extensions in order.
const localMetadataID pp.ExtensionNumber = 1

func localExtID(i int) pp.ExtensionNumber { return pp.ExtensionNumber(2 + i) }

func (t *Torrent) extendedHandshake() []byte {
	m := map[string]int{"ut_metadata": int(localMetadataID)}
	for i, e := range t.cl.cfg.Extensions {
		if t.offers(e) {
			m[e.Name()] = int(localExtID(i))
		}
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

// offers reports whether the torrent offers extension e (an offerer may
// decline some torrents).
func (t *Torrent) offers(e Extension) bool {
	o, ok := e.(offerer)
	return !ok || o.Offers(t)
}

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
		if !ok || !t.offers(e) {
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
