package piece

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// V2Input is a file to put in a v2 or hybrid torrent: its path below the
// torrent's name (empty for a torrent of this one file, named Name), its
// length and how to read it.
type V2Input struct {
	Path   []string
	Length int64
	Open   func() (io.ReadCloser, error)
}

// NewV2MetaInfo makes a BEP 52 torrent of files: pure v2, or hybrid with a
// v1 part whose files are padded (BEP 47, ".pad/<n>") to piece boundaries,
// as libtorrent makes them. Files are put in path order (the file tree's
// order). The piece length must be a power of two from 16 KiB. It returns
// the .torrent (with its piece layers) and its info.
func NewV2MetaInfo(name string, pieceLength int64, files []V2Input, hybrid bool) (*metainfo.MetaInfo, *metainfo.Info, error) {
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("%w: no files", ErrUnsupported)
	}
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b V2Input) int { return slices.Compare(a.Path, b.Path) })
	single := len(files) == 1 && len(files[0].Path) == 0
	info := &metainfo.Info{Name: name, PieceLength: pieceLength, MetaVersion: 2}
	tree := metainfo.FileTree{Dir: map[string]metainfo.FileTree{}}
	layers := map[string]string{}
	var v1 []io.Reader // the v1 data, padding included, for its SHA-1s
	for k, f := range files {
		path := f.Path
		if single {
			path = []string{name}
		}
		rc, err := f.Open()
		if err != nil {
			return nil, nil, fmt.Errorf("piece: open %q: %w", path, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, f.Length))
		rc.Close()
		if err != nil || int64(len(data)) != f.Length {
			return nil, nil, fmt.Errorf("piece: read %q: %d of %d bytes: %v", path, len(data), f.Length, err)
		}
		var ftf metainfo.FileTreeFile
		ftf.Length = f.Length
		if f.Length > 0 {
			root, layer, err := HashV2File(bytes.NewReader(data), f.Length, pieceLength)
			if err != nil {
				return nil, nil, err
			}
			ftf.PiecesRoot = string(root[:])
			if layer != nil {
				layers[string(root[:])] = string(layer)
			}
		}
		if err := treeAdd(&tree, path, ftf); err != nil {
			return nil, nil, err
		}
		if !hybrid {
			continue
		}
		v1 = append(v1, bytes.NewReader(data))
		if single {
			info.Length = f.Length
			continue
		}
		info.Files = append(info.Files, metainfo.FileInfo{Path: path, Length: f.Length})
		if pad := (pieceLength - f.Length%pieceLength) % pieceLength; pad > 0 && k < len(files)-1 {
			info.Files = append(info.Files, metainfo.FileInfo{
				Path: []string{".pad", strconv.FormatInt(pad, 10)}, Length: pad,
				ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"},
			})
			v1 = append(v1, bytes.NewReader(make([]byte, pad)))
		}
	}
	info.FileTree = tree
	if hybrid {
		var err error
		if info.Pieces, err = metainfo.GeneratePieces(io.MultiReader(v1...), pieceLength, nil); err != nil {
			return nil, nil, fmt.Errorf("piece: v1 hashes: %w", err)
		}
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return nil, nil, fmt.Errorf("piece: encode info: %w", err)
	}
	mi := &metainfo.MetaInfo{InfoBytes: ib, PieceLayers: layers}
	// What a reader of the .torrent sees (the file tree decoded).
	decoded, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, nil, fmt.Errorf("piece: decode info: %w", err)
	}
	return mi, &decoded, nil
}

// treeAdd puts a file at path in a v2 file tree.
func treeAdd(t *metainfo.FileTree, path []string, f metainfo.FileTreeFile) error {
	if len(path) == 0 {
		return fmt.Errorf("%w: an empty path", ErrUnsafePath)
	}
	if t.Dir == nil {
		t.Dir = map[string]metainfo.FileTree{}
	}
	sub, ok := t.Dir[path[0]]
	if len(path) == 1 {
		if ok {
			return fmt.Errorf("%w: %q given twice", ErrUnsafePath, path[0])
		}
		t.Dir[path[0]] = metainfo.FileTree{File: f}
		return nil
	}
	if err := treeAdd(&sub, path[1:], f); err != nil {
		return err
	}
	t.Dir[path[0]] = sub
	return nil
}
