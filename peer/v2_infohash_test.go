package peer_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/piece"
)

// btmh returns a magnet link of only a v2 info hash (BEP 52 btmh: the
// multihash of SHA-256, 0x12 0x20).
func btmh(infoBytes []byte, x string) string {
	sum := sha256.Sum256(infoBytes)
	return fmt.Sprintf("magnet:?xt=urn:btmh:1220%s&x.pe=%s", hex.EncodeToString(sum[:]), x)
}

// TestV2InfoHashes: a pure v2 torrent goes by its truncated v2 info hash;
// a hybrid goes by its v1 hash and answers to its truncated v2 hash too, so
// that a leecher that knows only its v2 hash (a btmh magnet) reaches the
// seeder, gets the metadata (matched by its v2 hash) and downloads it
// through the v1 layout.
func TestV2InfoHashes(t *testing.T) {
	f := newV2Fixture(t, true, 300000, 20000, 500000+7)
	seeder := newClient(t, nil)
	st, err := seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: f.mi, Dir: f.dir, Verify: true})
	require.NoError(t, err)
	assert.Equal(t, f.mi.HashInfoBytes(), st.InfoHash(), "a hybrid goes by its v1 hash")

	leecher := newClient(t, nil)
	tor, err := leecher.AddTorrent(t.Context(), peer.TorrentSpec{Magnet: btmh(f.mi.InfoBytes, seeder.Addr().String()), Dir: t.TempDir()})
	require.NoError(t, err)
	assert.Equal(t, piece.ShortV2InfoHash(f.mi.InfoBytes), tor.InfoHash())
	waitDone(t, tor, 30*time.Second)

	v2 := newV2Fixture(t, false, 100000, 10)
	pure, err := seeder.AddTorrent(t.Context(), peer.TorrentSpec{MetaInfo: v2.mi, Dir: v2.dir, Verify: true})
	require.NoError(t, err)
	assert.Equal(t, piece.ShortV2InfoHash(v2.mi.InfoBytes), pure.InfoHash(), "a pure v2 torrent goes by its v2 hash")
	assert.Zero(t, pure.Left())
}
