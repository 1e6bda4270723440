package piece

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/anacrolix/torrent/metainfo"
)

// BEP 52 torrents are stored and exchanged through one layout: the v1 one.
// A hybrid torrent's v1 part lists its files with padding files that start
// each file on a piece boundary, which is the v2 layout; a pure v2 torrent
// has no v1 part, and V1View makes the same list from its file tree. The
// storage, picker and file list then see a v1 torrent with padding
// (padding.go); only how a piece is verified differs (SHA-1 of the v1
// pieces, or the v2 merkle piece hashes: v2.go).

// ErrHybrid reports a hybrid torrent whose v1 and v2 parts disagree: BEP 52
// requires them to describe the same files at the same offsets.
var ErrHybrid = errors.New("piece: hybrid torrent's v1 and v2 file lists differ")

// maxV2Files bounds the files of a v2 file tree we upvert (a hostile tree
// could be huge; a torrent's own size bound keeps it finite anyway).
const maxV2Files = 1 << 20

// MaxV2Pieces bounds the pieces of a v2 torrent: nothing in its info
// bounds them as a v1 torrent's piece hashes do (a 64 MiB .torrent holds
// 3.3 million), and each costs bookkeeping. At 4 MiB pieces it allows
// 16 TiB.
const MaxV2Pieces = 1 << 22

// V1View returns the info as its v1 layout describes it: the info itself
// for a v1 torrent; for a hybrid, a copy without the v2 file tree (so that
// UpvertedFiles lists the v1 files with their padding), once the two parts
// are checked to agree; for a pure v2 torrent, a copy whose v1 file list is
// made from the file tree with BEP 47 padding after each file not ending on
// a piece boundary. The result is a v1 info for CheckInfo, LayoutOf,
// PaddingOf and OpenStorage. A pure v2 torrent has no v1 piece hashes: its
// view's Pieces holds one all-zero SHA-1 per piece, which no data hashes
// to, so that VerifyPiece never passes one of its pieces; they are
// verified with VerifyPieceV2 (see IsV2Only).
func V1View(info *metainfo.Info) (*metainfo.Info, error) {
	if info == nil || !info.HasV2() {
		return info, nil
	}
	if info.PieceLength <= 0 || info.PieceLength > MaxPieceLength {
		return nil, fmt.Errorf("%w: piece length %d, want 1 to %d", ErrUnsupported, info.PieceLength, MaxPieceLength)
	}
	v2, err := v2Files(info)
	if err != nil {
		return nil, err
	}
	v := *info
	v.MetaVersion = 0
	v.FileTree = metainfo.FileTree{}
	if info.HasV1() {
		if err := sameFiles(&v, v2); err != nil {
			return nil, err
		}
		return &v, nil
	}
	// Pure v2: a v1 list with padding, in the file tree's order. The
	// tree holds the paths below the torrent's name; a torrent of one file
	// has that file, named as the torrent, alone in it.
	v.Length, v.Files, v.Pieces = 0, nil, nil
	if singleV2(info, v2) {
		v.Length = v2[0].Length
		v.Pieces = make([]byte, 20*LayoutOf(&v).NumPieces())
		return &v, nil
	}
	for k, f := range v2 {
		v.Files = append(v.Files, metainfo.FileInfo{Length: f.Length, Path: f.BestPath()})
		if pad := (info.PieceLength - f.Length%info.PieceLength) % info.PieceLength; pad > 0 && k < len(v2)-1 {
			v.Files = append(v.Files, metainfo.FileInfo{
				Length:            pad,
				Path:              []string{".pad", strconv.FormatInt(pad, 10)},
				ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"},
			})
		}
	}
	v.Pieces = make([]byte, 20*LayoutOf(&v).NumPieces())
	return &v, nil
}

// singleV2 reports whether a v2 file tree is that of a single-file
// torrent: one file, named as the torrent.
func singleV2(info *metainfo.Info, v2 []metainfo.FileInfo) bool {
	return len(v2) == 1 && len(v2[0].BestPath()) == 1 && v2[0].BestPath()[0] == info.BestName()
}

// IsV2Only reports whether info is a pure v2 torrent (no v1 part).
func IsV2Only(info *metainfo.Info) bool { return info != nil && info.HasV2() && !info.HasV1() }

// v2Files lists a v2 info's files in file tree order, with a bound on their
// number and a check of each pieces root's length (anacrolix panics on a
// bad one).
func v2Files(info *metainfo.Info) ([]metainfo.FileInfo, error) {
	var bad error
	n := 0
	pl := info.PieceLength
	var pieces int64
	info.FileTree.Walk(nil, func(path []string, ft *metainfo.FileTree) {
		n++
		if bad == nil && !ft.IsDir() && ft.File.Length >= 0 {
			pieces += ft.File.Length/pl + 1 // bounded below: no overflow
			if pieces > MaxV2Pieces {
				bad = fmt.Errorf("%w: more than %d v2 pieces", ErrUnsupported, MaxV2Pieces)
			}
		}
		if bad == nil && !ft.IsDir() {
			if r := ft.File.PiecesRoot; r != "" && len(r) != 32 {
				bad = fmt.Errorf("%w: file %q: a pieces root of %d bytes", ErrUnsupported, path, len(r))
			} else if r == "" && ft.File.Length > 0 {
				bad = fmt.Errorf("%w: file %q of %d bytes has no pieces root", ErrUnsupported, path, ft.File.Length)
			} else if ft.File.Length < 0 {
				bad = fmt.Errorf("%w: file %q of length %d", ErrUnsupported, path, ft.File.Length)
			}
		}
	})
	if bad != nil {
		return nil, bad
	}
	if n > maxV2Files {
		return nil, fmt.Errorf("%w: a v2 file tree of %d entries", ErrUnsupported, n)
	}
	var out []metainfo.FileInfo
	for fi := range info.UpvertedFilesIter() {
		out = append(out, fi)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: an empty v2 file tree", ErrUnsupported)
	}
	return out, nil
}

// sameFiles checks that the v1 view v lists the files of v2 (padding
// aside) with the same paths and lengths, each starting where v2 puts it.
func sameFiles(v *metainfo.Info, v2 []metainfo.FileInfo) error {
	if len(v.Files) == 0 {
		if !singleV2(v, v2) || v2[0].Length != v.Length {
			return fmt.Errorf("%w: a v1 single file of %d bytes, %d v2 files", ErrHybrid, v.Length, len(v2))
		}
		return nil
	}
	k := 0
	var off int64
	for _, f := range v.Files {
		if IsPadding(f) {
			off += f.Length
			continue
		}
		if k == len(v2) {
			return fmt.Errorf("%w: more v1 files than v2 ones", ErrHybrid)
		}
		w := v2[k]
		if !slices.Equal(f.BestPath(), w.BestPath()) || f.Length != w.Length || (f.Length > 0 && off != w.TorrentOffset) {
			return fmt.Errorf("%w: file %d: v1 %q (%d bytes at %d), v2 %q (%d bytes at %d)", ErrHybrid, k, f.BestPath(), f.Length, off, w.BestPath(), w.Length, w.TorrentOffset)
		}
		off += f.Length
		k++
	}
	if k != len(v2) {
		return fmt.Errorf("%w: %d v1 files, %d v2 ones", ErrHybrid, k, len(v2))
	}
	return nil
}
