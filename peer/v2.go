package peer

import (
	"crypto/sha1"
	"fmt"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/piece"
)

// BEP 52 (BitTorrent v2) in the engine. Every torrent is stored and
// exchanged through its v1 layout (piece.V1View); a hybrid torrent is
// verified by its v1 SHA-1 piece hashes, a pure v2 one by its merkle piece
// layers (piece.V2Hashes), which come from the .torrent or, for a magnet,
// from peers by hash requests (hashes.go). A v2 info hash is the SHA-256 of
// the info, truncated to 20 bytes on the wire.

// InfoHashOf returns the 20-byte info hash a torrent goes by on the wire,
// in announces and in the DHT: the v1 (SHA-1) hash of a v1 or hybrid
// torrent, the truncated v2 (SHA-256) hash of a pure v2 one.
func InfoHashOf(infoBytes []byte, info *metainfo.Info) metainfo.Hash {
	if info != nil && piece.IsV2Only(info) {
		return piece.ShortV2InfoHash(infoBytes)
	}
	return sha1.Sum(infoBytes)
}

// V2InfoHashOf returns a hybrid or v2 torrent's truncated v2 info hash: the
// other name a hybrid torrent answers to in handshakes. ok is false for a
// v1 torrent.
func V2InfoHashOf(infoBytes []byte, info *metainfo.Info) (h metainfo.Hash, ok bool) {
	if info == nil || !info.HasV2() {
		return h, false
	}
	return piece.ShortV2InfoHash(infoBytes), true
}

// infoHashMatches reports whether info bytes are those of the torrent of
// info hash ih: by their v1 hash, or by their truncated v2 hash (a magnet
// with only a btmh, or a pure v2 torrent).
func infoHashMatches(ih metainfo.Hash, infoBytes []byte) bool {
	return sha1.Sum(infoBytes) == ih || piece.ShortV2InfoHash(infoBytes) == ih
}

// pieceLayers returns the "piece layers" of the torrent's .torrent, if it
// was added from one (nil for a magnet).
func (t *Torrent) pieceLayers() (map[string]string, error) {
	if t.spec.Magnet != "" {
		return nil, nil
	}
	mi, _, err := t.spec.load()
	if err != nil {
		return nil, err
	}
	return mi.PieceLayers, nil
}

// v2Hashes returns what verifies a pure v2 torrent's pieces (nil for a v1
// or hybrid torrent, verified by its v1 hashes). The piece layers come
// from the .torrent; those it lacks (a magnet has none) are fetched from
// peers with hash requests (hashes.go), and the pieces they cover are not
// requested until then.
func (t *Torrent) v2Hashes(info *metainfo.Info) (*piece.V2Hashes, error) {
	if !piece.IsV2Only(info) {
		return nil, nil
	}
	layers, err := t.pieceLayers()
	if err != nil {
		return nil, err
	}
	h, err := piece.NewV2Hashes(info, layers)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTorrent, err)
	}
	return h, nil
}

// servedHashes returns the v2 hashes a torrent answers hash requests from:
// a pure v2 torrent's own (v2, possibly still incomplete), or a hybrid's
// piece layers from its .torrent when it has them all (a hybrid is
// verified by SHA-1, but a v2 peer that came by magnet asks for them).
// Nil when there are none.
func (t *Torrent) servedHashes(info *metainfo.Info, v2 *piece.V2Hashes) *piece.V2Hashes {
	if v2 != nil || !info.HasV2() {
		return v2
	}
	layers, err := t.pieceLayers()
	if err != nil || len(layers) == 0 {
		return nil
	}
	h, err := piece.NewV2Hashes(info, layers)
	if err != nil || !h.Complete() {
		t.log.Debug("not serving the hybrid's piece layers", "err", err)
		return nil
	}
	return h
}
