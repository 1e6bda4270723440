package piece_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/bttspeed/bttspeed/piece"
)

// ExampleNewV2MetaInfo makes a hybrid torrent of two files and shows the
// v1 layout it is stored and exchanged through: the first file padded
// (BEP 47) to a piece boundary, where the second starts.
func ExampleNewV2MetaInfo() {
	file := func(n int) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(make([]byte, n))), nil }
	}
	mi, info, err := piece.NewV2MetaInfo("album", 32<<10, []piece.V2Input{
		{Path: []string{"a.flac"}, Length: 40000, Open: file(40000)},
		{Path: []string{"b.flac"}, Length: 1000, Open: file(1000)},
	}, true)
	if err != nil {
		panic(err)
	}
	view, err := piece.V1View(info)
	if err != nil {
		panic(err)
	}
	for _, f := range view.UpvertedFiles() {
		fmt.Println(f.DisplayPath(view), f.Length, piece.IsPadding(f))
	}
	fmt.Println("pieces:", piece.LayoutOf(view).NumPieces(), "piece layers:", len(mi.PieceLayers))
	// Output:
	// a.flac 40000 false
	// .pad/25536 25536 true
	// b.flac 1000 false
	// pieces: 3 piece layers: 1
}
