package peer_test

import (
	"context"
	"crypto/sha1"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// TestReviewPaddingHashAmplification: a .torrent (or a magnet's info) whose
// BEP 47 padding covers whole pieces of the largest size makes AddTorrent
// hash every one of them from zeros before it returns (startHave), without
// looking at any context: 20 bytes of the info cost 512 MiB of SHA-1. With
// the same zero hash for every such piece (the attacker computes it once),
// a 1 MiB info holds 50,000 of them: 25 TiB of hashing, uncancellable. The
// zero hash of a piece size is one value: computed once per size, checking
// an all-padding piece costs a comparison.
func TestReviewPaddingHashAmplification(t *testing.T) {
	const pl = 512 << 20 // piece.MaxPieceLength
	const padPieces = 32
	h := sha1.New()
	zeros := make([]byte, 1<<20)
	for range pl / len(zeros) {
		h.Write(zeros)
	}
	zeroSum := h.Sum(nil)
	pieces := make([]byte, 20) // piece 0 (1 byte of data): never checked here
	for range padPieces {
		pieces = append(pieces, zeroSum...)
	}
	info := metainfo.Info{
		Name:        "hostile",
		PieceLength: pl,
		Pieces:      pieces,
		Files: []metainfo.FileInfo{
			{Path: []string{"a"}, Length: 1},
			{Path: []string{".pad", "x"}, Length: pl - 1 + padPieces*pl, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}},
		},
	}
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)

	cl := newClient(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the caller gave up before it began
	start := time.Now()
	tor, err := cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: &metainfo.MetaInfo{InfoBytes: ib}, Dir: t.TempDir()})
	took := time.Since(start)
	if err == nil {
		defer tor.Close()
	}
	t.Logf("AddTorrent: %v, err %v", took, err)
	assert.Less(t, took, 4*time.Second, "adding a torrent hashed %d GiB of padding zeros", padPieces*pl>>30)
}
