package piece

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
)

// BEP 52 hash requests: a peer asks for a run of a file's merkle tree
// layer ("base layer": 0 is the 16 KiB blocks', ours is the piece
// layer's) with the uncle hashes ("proof layers") that link the run to the
// file's pieces root. We answer for the piece layer, and accept an answer
// only when its proof reaches the root.

// MaxHashRequest is the most hashes of a layer one request may ask for
// (libtorrent asks for at most 512).
const MaxHashRequest = 512

// ErrHashRequest reports a hash request we cannot or will not answer, or
// hashes that do not prove out.
var ErrHashRequest = errors.New("piece: bad hash request")

// HashRequest is a BEP 52 hash request, and the header of its answer
// (hashes) or refusal (hash reject).
type HashRequest struct {
	Root        [32]byte
	BaseLayer   uint32
	Index       uint32
	Length      uint32
	ProofLayers uint32
}

// PieceLayer returns the layer number of the piece hashes: log2 of the
// blocks per piece.
func (h *V2Hashes) PieceLayer() uint32 {
	return uint32(bits.TrailingZeros64(uint64(h.pieceLength / BlockSize)))
}

// fileByRoot returns the index of the file of pieces root r, or -1.
func (h *V2Hashes) fileByRoot(r [32]byte) int {
	for k, f := range h.files {
		if f.Root == r {
			return k
		}
	}
	return -1
}

// check validates req against file k's piece layer and returns the layer's
// width (its pieces, padded to a power of two) and the proof layers that
// reach the root from the run.
func (h *V2Hashes) check(req HashRequest) (k int, width, proofs uint32, err error) {
	k = h.fileByRoot(req.Root)
	if k < 0 {
		return k, 0, 0, fmt.Errorf("%w: unknown pieces root", ErrHashRequest)
	}
	f := h.files[k]
	if f.NumPieces < 2 {
		return k, 0, 0, fmt.Errorf("%w: a file of one piece has no piece layer", ErrHashRequest)
	}
	if req.BaseLayer != h.PieceLayer() {
		return k, 0, 0, fmt.Errorf("%w: base layer %d, only the piece layer (%d) is kept", ErrHashRequest, req.BaseLayer, h.PieceLayer())
	}
	width = uint32(1) << bits.Len(uint(f.NumPieces-1))
	if req.Length < 2 || req.Length > MaxHashRequest || req.Length&(req.Length-1) != 0 || req.Length > width {
		return k, 0, 0, fmt.Errorf("%w: length %d", ErrHashRequest, req.Length)
	}
	if req.Index%req.Length != 0 || req.Index >= width {
		return k, 0, 0, fmt.Errorf("%w: index %d of length %d in a layer of %d", ErrHashRequest, req.Index, req.Length, width)
	}
	proofs = uint32(bits.TrailingZeros32(width / req.Length))
	return k, width, proofs, nil
}

// layer returns file k's piece layer padded to width with the pad hash.
func (h *V2Hashes) layer(k int, width uint32) ([][32]byte, error) {
	f := h.files[k]
	out := make([][32]byte, width)
	pad := h.PieceLayerPad()
	for i := range out {
		if i >= f.NumPieces {
			out[i] = pad
			continue
		}
		p := h.pieces[f.FirstPiece+i]
		if !p.known {
			return nil, fmt.Errorf("%w: piece layer not known", ErrHashRequest)
		}
		out[i] = p.want
	}
	return out, nil
}

func parent(a, b [32]byte) [32]byte {
	var buf [64]byte
	copy(buf[:32], a[:])
	copy(buf[32:], b[:])
	return sha256.Sum256(buf[:])
}

// Answer returns the hashes answering req: the run of the piece layer it
// asks for, then the uncle hashes of at most ProofLayers layers above it,
// lowest first, stopping below the root (which the asker has).
func (h *V2Hashes) Answer(req HashRequest) ([][32]byte, error) {
	k, width, proofs, err := h.check(req)
	if err != nil {
		return nil, err
	}
	tree, err := h.tree(k, width)
	if err != nil {
		return nil, err
	}
	out := append([][32]byte(nil), tree[0][req.Index:req.Index+req.Length]...)
	// From the run's level, climb.
	lv := bits.TrailingZeros32(req.Length)
	idx := req.Index / req.Length
	for range min(req.ProofLayers, proofs) {
		out = append(out, tree[lv][idx^1])
		lv++
		idx /= 2
	}
	return out, nil
}

// tree returns file k's merkle tree from its padded piece layer (level 0)
// up to the level below the root, computed once: a peer's requests cost a
// lookup each, not a layer's hashing. Loop state (only the engine's loop
// answers requests).
func (h *V2Hashes) tree(k int, width uint32) ([][][32]byte, error) {
	if t := h.trees[k]; t != nil {
		return t, nil
	}
	layer, err := h.layer(k, width)
	if err != nil {
		return nil, err
	}
	t := [][][32]byte{layer}
	for len(layer) > 2 {
		layer = reduce(layer)
		t = append(t, layer)
	}
	if h.trees == nil {
		h.trees = make(map[int][][][32]byte)
	}
	h.trees[k] = t
	return t, nil
}

// reduce returns the layer above l (of an even number of nodes).
func reduce(l [][32]byte) [][32]byte {
	up := make([][32]byte, len(l)/2)
	for i := range up {
		up[i] = parent(l[2*i], l[2*i+1])
	}
	return up
}

// Accept checks hashes, a peer's answer to req, against the file's pieces
// root and, when they prove out, installs the piece hashes they give. The
// answer must carry every proof layer up to the root. It returns the
// number of pieces whose hash became known.
func (h *V2Hashes) Accept(req HashRequest, hashes [][32]byte) (int, error) {
	k, _, proofs, err := h.check(req)
	if err != nil {
		return 0, err
	}
	if uint32(len(hashes)) != req.Length+proofs {
		return 0, fmt.Errorf("%w: %d hashes, want %d and %d proofs", ErrHashRequest, len(hashes), req.Length, proofs)
	}
	run := hashes[:req.Length]
	level := append([][32]byte(nil), run...)
	for len(level) > 1 {
		level = reduce(level)
	}
	node, idx := level[0], req.Index/req.Length
	for _, u := range hashes[req.Length:] {
		if idx%2 == 0 {
			node = parent(node, u)
		} else {
			node = parent(u, node)
		}
		idx /= 2
	}
	f := h.files[k]
	if node != f.Root {
		return 0, fmt.Errorf("%w: the hashes do not prove out to the pieces root", ErrHashRequest)
	}
	pad := h.PieceLayerPad()
	n := 0
	for j, x := range run {
		i := int(req.Index) + j
		if i >= f.NumPieces {
			if x != pad {
				return n, fmt.Errorf("%w: a hash past the file's end is not the pad hash", ErrHashRequest)
			}
			continue
		}
		p := &h.pieces[f.FirstPiece+i]
		if !p.known { // a known piece may be being verified: not written
			p.want, p.known = x, true
			n++
		}
	}
	return n, nil
}

// FileOf returns the index in Files of the file with pieces root r, or -1.
func (h *V2Hashes) FileOf(r [32]byte) int { return h.fileByRoot(r) }

// LayerKnown reports whether every piece hash of file k is known.
func (h *V2Hashes) LayerKnown(k int) bool {
	if k < 0 || k >= len(h.files) {
		return false
	}
	f := h.files[k]
	for i := range f.NumPieces {
		if !h.pieces[f.FirstPiece+i].known {
			return false
		}
	}
	return true
}

// LayerRequests returns the hash requests that fetch file k's piece layer
// with the proofs that tie it to the root: the whole layer at once up to
// MaxHashRequest pieces, else runs of MaxHashRequest.
func (h *V2Hashes) LayerRequests(k int) []HashRequest {
	if k < 0 || k >= len(h.files) || h.files[k].NumPieces < 2 {
		return nil
	}
	f := h.files[k]
	width := uint32(1) << bits.Len(uint(f.NumPieces-1))
	run := min(width, MaxHashRequest)
	proofs := uint32(bits.TrailingZeros32(width / run))
	var out []HashRequest
	for i := uint32(0); i < uint32(f.NumPieces); i += run {
		out = append(out, HashRequest{Root: f.Root, BaseLayer: h.PieceLayer(), Index: i, Length: run, ProofLayers: proofs})
	}
	return out
}
