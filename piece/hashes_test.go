package piece

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHashRequests: a seeder's V2Hashes answers hash requests for runs of
// a file's piece layer with their proofs, and a leecher's V2Hashes made
// without the layers accepts them — and refuses a changed hash, a missing
// proof, and requests out of bounds.
func TestHashRequests(t *testing.T) {
	const pl = 16 << 10
	mi, info, _ := v2Fixture(t, pl, false, 5*pl+3, 100, 2*pl) // a: 6 pieces (width 8), c: 2
	seeder, err := NewV2Hashes(info, mi.PieceLayers)
	require.NoError(t, err)
	require.True(t, seeder.Complete())
	a := seeder.Files()[0]
	assert.Equal(t, uint32(0), seeder.PieceLayer())

	for _, tc := range []struct {
		name          string
		index, length uint32
	}{
		{"the whole layer", 0, 8},
		{"a pair and its proofs", 2, 2},
		{"the last pair, all padding", 6, 2},
		{"a half", 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := HashRequest{Root: a.Root, Index: tc.index, Length: tc.length, ProofLayers: 10}
			hashes, err := seeder.Answer(req)
			require.NoError(t, err)
			leecher, err := NewV2Hashes(info, nil)
			require.NoError(t, err)
			n, err := leecher.Accept(req, hashes)
			require.NoError(t, err)
			assert.Equal(t, int(min(tc.index+tc.length, 6)-min(tc.index, 6)), n)
			for j := range tc.length {
				if i := int(tc.index + j); i < 6 {
					assert.True(t, leecher.Known(i), "piece %d", i)
				}
			}
			for j := range hashes {
				bad := append([][32]byte(nil), hashes...)
				bad[j][5] ^= 1
				_, err := leecher.Accept(req, bad)
				require.ErrorIs(t, err, ErrHashRequest, "hash %d changed", j)
			}
			if len(hashes) > int(tc.length) {
				_, err = leecher.Accept(req, hashes[:len(hashes)-1])
				require.ErrorIs(t, err, ErrHashRequest, "a proof missing")
			}
		})
	}
	t.Run("whole layer completes the leecher", func(t *testing.T) {
		leecher, err := NewV2Hashes(info, nil)
		require.NoError(t, err)
		for _, f := range leecher.Files() {
			if f.NumPieces < 2 {
				continue
			}
			req := HashRequest{Root: f.Root, Length: uint32(1) << bitsLen(f.NumPieces-1)}
			hashes, err := seeder.Answer(req)
			require.NoError(t, err)
			_, err = leecher.Accept(req, hashes)
			require.NoError(t, err)
		}
		assert.True(t, leecher.Complete())
	})
	for _, tc := range []struct {
		name string
		req  HashRequest
	}{
		{"unknown root", HashRequest{Root: [32]byte{1}, Length: 2}},
		{"leaf layer", HashRequest{Root: a.Root, BaseLayer: 1, Length: 2}},
		{"length 1", HashRequest{Root: a.Root, Length: 1}},
		{"length 3", HashRequest{Root: a.Root, Length: 3}},
		{"longer than the layer", HashRequest{Root: a.Root, Length: 16}},
		{"unaligned", HashRequest{Root: a.Root, Index: 1, Length: 2}},
		{"past the end", HashRequest{Root: a.Root, Index: 8, Length: 2}},
		{"huge index", HashRequest{Root: a.Root, Index: 1 << 31, Length: 2}},
		{"a file of one piece", HashRequest{Root: seeder.Files()[1].Root, Length: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := seeder.Answer(tc.req)
			require.ErrorIs(t, err, ErrHashRequest)
			_, err = seeder.Accept(tc.req, make([][32]byte, 4))
			require.ErrorIs(t, err, ErrHashRequest)
		})
	}
	leecher, err := NewV2Hashes(info, nil)
	require.NoError(t, err)
	_, err = leecher.Answer(HashRequest{Root: a.Root, Length: 2})
	require.ErrorIs(t, err, ErrHashRequest, "a layer we lack is not answered")
}

func bitsLen(n int) int {
	k := 0
	for ; n > 0; n >>= 1 {
		k++
	}
	return k
}

// FuzzHashes: Accept on any request and hashes: an error or hashes that
// prove out, never a panic; nothing is installed by a failure.
func FuzzHashes(f *testing.F) {
	const pl = 16 << 10
	mi, info, _ := v2Fixture(f, pl, false, 5*pl+3, 100)
	seeder, err := NewV2Hashes(info, mi.PieceLayers)
	require.NoError(f, err)
	root := seeder.Files()[0].Root
	good, err := seeder.Answer(HashRequest{Root: root, Index: 2, Length: 2, ProofLayers: 9})
	require.NoError(f, err)
	var seed []byte
	for _, h := range good {
		seed = append(seed, h[:]...)
	}
	f.Add(uint32(0), uint32(2), uint32(2), uint32(9), seed, true)
	f.Add(uint32(0), uint32(0), uint32(8), uint32(0), seed, false)
	f.Fuzz(func(t *testing.T, base, index, length, proofs uint32, raw []byte, useRoot bool) {
		leecher, err := NewV2Hashes(info, nil)
		require.NoError(t, err)
		req := HashRequest{BaseLayer: base, Index: index, Length: length, ProofLayers: proofs}
		if useRoot {
			req.Root = root
		}
		hashes := make([][32]byte, min(len(raw)/32, 2*MaxHashRequest))
		for i := range hashes {
			copy(hashes[i][:], raw[32*i:])
		}
		if _, err := leecher.Accept(req, hashes); err != nil {
			for i := range 6 {
				assert.False(t, leecher.Known(i), "a failed answer installs nothing")
			}
		}
		_, _ = seeder.Answer(req)
	})
}

// TestLayerRequests: a file of more than MaxHashRequest pieces is fetched
// in runs of MaxHashRequest with the proofs up to its root, and the
// answers complete a leecher's hashes.
func TestLayerRequests(t *testing.T) {
	const pl = 16 << 10
	mi, info, _ := v2Fixture(t, pl, false, 600*pl-5, 3*pl)
	seeder, err := NewV2Hashes(info, mi.PieceLayers)
	require.NoError(t, err)
	leecher, err := NewV2Hashes(info, nil)
	require.NoError(t, err)
	reqs := leecher.LayerRequests(0)
	require.Len(t, reqs, 2, "600 pieces: a layer of 1024, two runs of 512")
	assert.Equal(t, uint32(1), reqs[0].ProofLayers)
	assert.Equal(t, uint32(512), reqs[1].Index)
	assert.Len(t, leecher.LayerRequests(1), 1)
	for k := range leecher.Files() {
		for _, r := range leecher.LayerRequests(k) {
			hashes, err := seeder.Answer(r)
			require.NoError(t, err)
			_, err = leecher.Accept(r, hashes)
			require.NoError(t, err)
		}
		assert.True(t, leecher.LayerKnown(k))
	}
	assert.True(t, leecher.Complete())
}
