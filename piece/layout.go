package piece

import (
	"github.com/anacrolix/torrent/metainfo"
)

// BlockSize is the size of a request: 16 KiB, as every client uses.
const BlockSize = 16 * 1024

// Block is one request: a piece, an offset in it and a length. It is
// comparable and keys requests.
type Block struct {
	Piece         int
	Begin, Length uint32
}

// Layout is how a torrent splits into pieces and blocks.
type Layout struct {
	PieceLength int64
	Length      int64
}

// LayoutOf returns the layout of an info dictionary: that of its v1 file
// list (padding included) if it has one, else (pure v2) that of its v2
// files each starting on a piece boundary, which is the layout of its
// V1View.
func LayoutOf(info *metainfo.Info) Layout {
	var n int64
	if info.PieceLength <= 0 {
		return Layout{PieceLength: info.PieceLength} // no pieces; CheckInfo refuses it
	}
	if info.HasV1() {
		for fi := range info.UpvertedV1Files() {
			n += fi.Length
		}
	} else {
		for fi := range info.UpvertedFilesIter() {
			n = max(n, fi.TorrentOffset+fi.Length)
		}
	}
	return Layout{PieceLength: info.PieceLength, Length: n}
}

// NumPieces returns the number of pieces.
func (l Layout) NumPieces() int {
	if l.PieceLength <= 0 || l.Length <= 0 {
		return 0
	}
	return int((l.Length + l.PieceLength - 1) / l.PieceLength)
}

// PieceSize returns the size of piece i (the last may be short), or 0 out of
// range.
func (l Layout) PieceSize(i int) int64 {
	n := l.NumPieces()
	if i < 0 || i >= n {
		return 0
	}
	if i == n-1 {
		return l.Length - int64(i)*l.PieceLength
	}
	return l.PieceLength
}

// NumBlocks returns the number of blocks of piece i.
func (l Layout) NumBlocks(i int) int {
	return int((l.PieceSize(i) + BlockSize - 1) / BlockSize)
}

// Block returns block j of piece i.
func (l Layout) Block(i, j int) Block {
	size := l.PieceSize(i)
	begin := int64(j) * BlockSize
	length := min(int64(BlockSize), size-begin)
	return Block{Piece: i, Begin: uint32(begin), Length: uint32(length)}
}

// Valid reports whether b is a block of this layout: in range, on a block
// boundary, and a full block (or the short last block of a piece).
func (l Layout) Valid(b Block) bool {
	size := l.PieceSize(b.Piece)
	if size == 0 || b.Begin%BlockSize != 0 || int64(b.Begin) >= size {
		return false
	}
	return int64(b.Length) == min(int64(BlockSize), size-int64(b.Begin))
}

// InRange reports whether b lies within its piece, whatever its alignment
// and size: what a seeder can serve to a peer that asks for odd requests.
func (l Layout) InRange(b Block) bool {
	size := l.PieceSize(b.Piece)
	return b.Length > 0 && b.Length <= 128*1024 && int64(b.Begin)+int64(b.Length) <= size
}

// Offset returns the torrent offset of b.
func (l Layout) Offset(b Block) int64 { return int64(b.Piece)*l.PieceLength + int64(b.Begin) }
