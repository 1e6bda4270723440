package piece

import (
	"sort"
	"strings"

	"github.com/anacrolix/torrent/metainfo"
)

// BEP 47 padding files: the zeros a torrent maker inserts after a file so
// that the next one starts on a piece boundary. Their bytes are known
// without asking anyone (zeros), so they are never requested, never written
// to disk, and read as zeros to hash and to serve.

// IsPadding reports whether a file of the info's list is a BEP 47 padding
// file (attribute "p").
func IsPadding(fi metainfo.FileInfo) bool { return strings.Contains(fi.Attr, "p") }

// Extent is a range of torrent bytes.
type Extent struct {
	Off, Len int64
}

// Padding lists the torrent byte ranges of a torrent's padding files,
// sorted, non-empty and disjoint. The zero value is a torrent without
// padding.
type Padding struct {
	ext []Extent
}

// PaddingOf returns the padding of an info dictionary's file list (the one
// UpvertedFiles gives: the v1 list, padding included, for a v1 or V1View
// info).
func PaddingOf(info *metainfo.Info) Padding {
	var p Padding
	var off int64
	for fi := range info.UpvertedFilesIter() {
		if IsPadding(fi) && fi.Length > 0 {
			if n := len(p.ext); n > 0 && p.ext[n-1].Off+p.ext[n-1].Len == off {
				p.ext[n-1].Len += fi.Length // adjacent pads merge
			} else {
				p.ext = append(p.ext, Extent{Off: off, Len: fi.Length})
			}
		}
		off += fi.Length
	}
	return p
}

// Empty reports whether the torrent has no padding.
func (p Padding) Empty() bool { return len(p.ext) == 0 }

// Extents returns the padding ranges (shared: do not modify).
func (p Padding) Extents() []Extent { return p.ext }

// Run returns how many bytes from torrent offset off, at most n, are
// padding: 0 if off is not in padding.
func (p Padding) Run(off, n int64) int64 {
	k := sort.Search(len(p.ext), func(k int) bool { return p.ext[k].Off+p.ext[k].Len > off })
	if k == len(p.ext) || p.ext[k].Off > off {
		return 0
	}
	return min(n, p.ext[k].Off+p.ext[k].Len-off)
}

// Covers reports whether the torrent range [off, off+n) lies wholly in
// padding (n > 0).
func (p Padding) Covers(off, n int64) bool { return n > 0 && p.Run(off, n) == n }

// BlockIsPadding reports whether block b of layout l is all padding: a
// block nobody needs to send.
func (p Padding) BlockIsPadding(l Layout, b Block) bool {
	return p.Covers(l.Offset(b), int64(b.Length))
}

// PaddingBlocks returns the number of blocks of each piece that are all
// padding, for the pieces that have any (a sparse map: most pieces have
// none).
func (p Padding) PaddingBlocks(l Layout) map[int]int {
	out := make(map[int]int)
	if l.PieceLength <= 0 {
		return out
	}
	seen := make(map[int]bool)
	for _, e := range p.ext {
		for i := int(e.Off / l.PieceLength); i < l.NumPieces() && int64(i)*l.PieceLength < e.Off+e.Len; i++ {
			if seen[i] {
				continue // two pads in one piece: counted once
			}
			seen[i] = true
			for j := range l.NumBlocks(i) {
				if p.BlockIsPadding(l, l.Block(i, j)) {
					out[i]++
				}
			}
		}
	}
	return out
}

// PiecePadding reports whether piece i is all padding: its bytes are known
// (zeros) and no peer need send any.
func (p Padding) PiecePadding(l Layout, i int) bool {
	return p.Covers(int64(i)*l.PieceLength, l.PieceSize(i))
}
