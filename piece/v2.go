package piece

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/anacrolix/torrent/merkle"
	"github.com/anacrolix/torrent/metainfo"
)

// BEP 52 verification. A v2 torrent hashes each file on its own: SHA-256
// of each 16 KiB block, a merkle tree over them (zero hashes past the end),
// and the file's root ("pieces root") in the info. The layer of that tree
// at the piece size ("piece layers", outside the info, in the .torrent or
// fetched from peers with hash requests) gives a hash per piece; a file of
// one piece or less is verified by its root alone. Files start on piece
// boundaries, so a piece of the V1View layout holds bytes of one file, and
// its tail past the file is padding.

// ErrV2 reports v2 hashes that are missing or do not match their root.
var ErrV2 = errors.New("piece: bad v2 hashes")

// v2Piece is what verifies one piece of a v2 torrent.
type v2Piece struct {
	want  [32]byte
	known bool  // want is known (a magnet's layers may come later)
	n     int64 // the file's bytes in the piece; the rest is padding
	small bool  // the file is one piece or less: want is its root
}

// V2File is one non-empty file of a v2 torrent as its hashes see it.
type V2File struct {
	Root       [32]byte
	FirstPiece int // in the V1View layout
	NumPieces  int
	Length     int64
}

// V2Hashes holds the expected SHA-256 merkle hash of each piece of a v2
// (or hybrid) torrent, in its V1View layout. Not safe for concurrent
// use while SetLayer runs; the engine sets layers on its loop and the disk
// workers read only pieces whose layer is known.
type V2Hashes struct {
	pieceLength int64
	pieces      []v2Piece
	files       []V2File
	trees       map[int][][][32]byte // per file, for Answer
}

// NewV2Hashes returns the hashes of a v2 or hybrid info from its piece
// layers (the .torrent's "piece layers": pieces root to the concatenated
// piece hashes). A file whose layer is missing has its pieces unknown
// until SetLayer; a layer that does not hash to its root is an error.
func NewV2Hashes(info *metainfo.Info, layers map[string]string) (*V2Hashes, error) {
	if !info.HasV2() {
		return nil, fmt.Errorf("%w: not a v2 torrent", ErrV2)
	}
	pl := info.PieceLength
	if pl < BlockSize || pl > MaxPieceLength || bits.OnesCount64(uint64(pl)) != 1 {
		return nil, fmt.Errorf("%w: v2 piece length %d, want a power of two from 16 KiB", ErrUnsupported, pl)
	}
	files, err := v2Files(info)
	if err != nil {
		return nil, err
	}
	h := &V2Hashes{pieceLength: pl, pieces: make([]v2Piece, LayoutOf(info).NumPieces())}
	for _, f := range files {
		if f.Length == 0 {
			continue
		}
		vf := V2File{
			Root:       f.PiecesRoot.Value,
			FirstPiece: int(f.TorrentOffset / pl),
			NumPieces:  int((f.Length + pl - 1) / pl),
			Length:     f.Length,
		}
		if vf.FirstPiece+vf.NumPieces > len(h.pieces) {
			return nil, fmt.Errorf("%w: file %q past the torrent's end", ErrV2, f.BestPath())
		}
		h.files = append(h.files, vf)
		for k := range vf.NumPieces {
			h.pieces[vf.FirstPiece+k] = v2Piece{n: min(pl, f.Length-int64(k)*pl), small: vf.NumPieces == 1}
		}
		if vf.NumPieces == 1 {
			p := &h.pieces[vf.FirstPiece]
			p.want, p.known = vf.Root, true
			continue
		}
		if layer, ok := layers[string(vf.Root[:])]; ok {
			if err := h.SetLayer(len(h.files)-1, []byte(layer)); err != nil {
				return nil, fmt.Errorf("file %q: %w", f.BestPath(), err)
			}
		}
	}
	return h, nil
}

// Files returns the torrent's non-empty files, in order.
func (h *V2Hashes) Files() []V2File { return h.files }

// Complete reports whether every piece's hash is known.
func (h *V2Hashes) Complete() bool {
	for i := range h.pieces {
		if !h.Known(i) {
			return false
		}
	}
	return true
}

// Known reports whether piece i can be verified: its hash is known, or it
// is all padding (no file's bytes: zeros by definition).
func (h *V2Hashes) Known(i int) bool {
	return i >= 0 && i < len(h.pieces) && (h.pieces[i].known || h.pieces[i].n == 0)
}

// PieceLayerPad returns the hash that pads a piece layer to a power of
// two: the root of a piece of zero hashes.
func (h *V2Hashes) PieceLayerPad() [32]byte { return metainfo.HashForPiecePad(h.pieceLength) }

// SetLayer installs file k's piece layer (its pieces' hashes, 32 bytes
// each) after checking that it hashes to the file's root.
func (h *V2Hashes) SetLayer(k int, layer []byte) error {
	if k < 0 || k >= len(h.files) {
		return fmt.Errorf("%w: no file %d", ErrV2, k)
	}
	f := h.files[k]
	if f.NumPieces == 1 {
		return nil // verified by its root
	}
	if len(layer) != 32*f.NumPieces {
		return fmt.Errorf("%w: a piece layer of %d bytes for %d pieces", ErrV2, len(layer), f.NumPieces)
	}
	hashes := make([][32]byte, f.NumPieces)
	for i := range hashes {
		copy(hashes[i][:], layer[32*i:])
	}
	if merkle.RootWithPadHash(hashes, h.PieceLayerPad()) != f.Root {
		return fmt.Errorf("%w: the piece layer does not hash to the file's root", ErrV2)
	}
	for i, x := range hashes {
		p := &h.pieces[f.FirstPiece+i]
		p.want, p.known = x, true
	}
	return nil
}

// Sum returns the v2 hash of piece i whose file bytes are data (the piece
// without its padding): the merkle root of its blocks, padded with zero
// hashes to a whole piece, or for a file of one piece to its own power of
// two of blocks (its root).
func (h *V2Hashes) Sum(i int, data []byte) [32]byte {
	var out [32]byte
	m := merkle.NewHash()
	m.Write(data)
	if i >= 0 && i < len(h.pieces) && h.pieces[i].small {
		m.Sum(out[:0])
	} else {
		m.SumMinLength(out[:0], int(h.pieceLength))
	}
	return out
}

// Check reports whether data, the file bytes of piece i, hash to its
// expected v2 hash (false if that is unknown).
func (h *V2Hashes) Check(i int, data []byte) bool {
	if !h.Known(i) || int64(len(data)) != h.pieces[i].n {
		return false
	}
	if h.pieces[i].n == 0 {
		return true
	}
	return h.Sum(i, data) == h.pieces[i].want
}

// VerifyPieceV2 hashes piece i by the v2 hashes h and records the result
// in the completion database, as VerifyPiece does with v1 hashes. A piece
// whose hash is not known yet is reported not complete, without error.
func (s *Storage) VerifyPieceV2(i int, h *V2Hashes) (bool, error) {
	if i < 0 || i >= s.layout.NumPieces() || i >= len(h.pieces) {
		return false, fmt.Errorf("%w: piece %d", ErrBlock, i)
	}
	p := s.piece(i)
	if !h.Known(i) {
		return false, nil
	}
	n := h.pieces[i].n
	data := make([]byte, n)
	if m, err := p.ReadAt(data, 0); int64(m) < n {
		if err == nil || err == io.EOF {
			_ = p.MarkNotComplete()
			return false, nil
		}
		return false, fmt.Errorf("piece: verify piece %d: %w", i, err)
	}
	ok := h.Check(i, data)
	var err error
	if ok {
		err = p.MarkComplete()
	} else {
		err = p.MarkNotComplete()
	}
	if err != nil {
		return ok, fmt.Errorf("piece: record completion of piece %d: %w", i, err)
	}
	return ok, nil
}

// VerifyAllV2 is VerifyAll by the v2 hashes.
func (s *Storage) VerifyAllV2(ctx context.Context, h *V2Hashes) (Bitfield, error) {
	bf := NewBitfield(s.layout.NumPieces())
	for i := range s.layout.NumPieces() {
		if err := ctx.Err(); err != nil {
			return bf, err
		}
		ok, err := s.VerifyPieceV2(i, h)
		if err != nil {
			return bf, err
		}
		if ok {
			bf.Set(i)
		}
	}
	return bf, nil
}

// HashV2File computes a file's v2 pieces root and piece layer (empty for a
// file of one piece or less) by reading length bytes from r: what a torrent
// maker writes in the info's file tree and the .torrent's piece layers.
func HashV2File(r io.Reader, length, pieceLength int64) (root [32]byte, layer []byte, err error) {
	if pieceLength < BlockSize || bits.OnesCount64(uint64(pieceLength)) != 1 {
		return root, nil, fmt.Errorf("%w: v2 piece length %d", ErrUnsupported, pieceLength)
	}
	if length <= pieceLength {
		m := merkle.NewHash()
		if _, err := io.CopyN(m, r, length); err != nil {
			return root, nil, fmt.Errorf("piece: hash file: %w", err)
		}
		m.Sum(root[:0])
		return root, nil, nil
	}
	var hashes [][32]byte
	buf := make([]byte, pieceLength)
	for left := length; left > 0; left -= pieceLength {
		chunk := buf[:min(left, pieceLength)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return root, nil, fmt.Errorf("piece: hash file: %w", err)
		}
		m := merkle.NewHash()
		m.Write(chunk)
		var x [32]byte
		m.SumMinLength(x[:0], int(pieceLength))
		hashes = append(hashes, x)
		layer = append(layer, x[:]...)
	}
	return merkle.RootWithPadHash(hashes, metainfo.HashForPiecePad(pieceLength)), layer, nil
}

// ShortV2InfoHash returns a v2 info hash truncated to 20 bytes: what a v2
// peer puts in its handshake, trackers and the DHT use (BEP 52).
func ShortV2InfoHash(infoBytes []byte) metainfo.Hash {
	sum := sha256.Sum256(infoBytes)
	var h metainfo.Hash
	copy(h[:], sum[:20])
	return h
}
