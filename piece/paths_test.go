package piece

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pathCases are info dictionaries that try to write outside the download
// directory, or in odd places, and some that are fine.
func pathCases() []struct {
	name    string
	mod     func(*metainfo.Info)
	want    error // nil: accepted
	windows bool  // refused on Windows only
} {
	files := func(paths ...[]string) func(*metainfo.Info) {
		return func(i *metainfo.Info) {
			i.Files = nil
			for _, p := range paths {
				i.Files = append(i.Files, metainfo.FileInfo{Length: 1, Path: p})
			}
			i.Pieces = make([]byte, 20*((len(paths)+int(i.PieceLength)-1)/int(i.PieceLength)))
		}
	}
	name := func(n string) func(*metainfo.Info) { return func(i *metainfo.Info) { i.Name = n } }
	p := func(c ...string) []string { return c }
	return []struct {
		name    string
		mod     func(*metainfo.Info)
		want    error
		windows bool
	}{
		{"a file in a folder", files(p("dir", "f.txt"), p("g.txt")), nil, false},
		{"a single file", name("f.txt"), nil, false},
		{"dots inside a name", files(p("a..b"), p(".hidden"), p("x...y")), nil, false},
		{"unicode and spaces", files(p("Ünïcödé dir", "a b.txt")), nil, false},
		{"a name with a colon", files(p("Star Wars: A New Hope.mkv")), nil, true},
		{"a Windows device name", files(p("aux.c")), nil, true},
		{"name ..", name(".."), ErrUnsafePath, false},
		{"name .", name("."), ErrUnsafePath, false},
		{"empty name", name(""), ErrUnsafePath, false},
		{"name of dots", name("..."), ErrUnsafePath, false},
		{"name of a dot and spaces", name(". ."), ErrUnsafePath, false},
		{"absolute name", name("/etc"), ErrUnsafePath, false},
		{"name with a separator", name("a/b"), ErrUnsafePath, false},
		{"name with a backslash", name(`..\..\x`), ErrUnsafePath, false},
		{"name with a NUL", name("a\x00b"), ErrUnsafePath, false},
		{"name with a newline", name("a\nb"), ErrUnsafePath, false},
		{"name with a DEL", name("a\x7fb"), ErrUnsafePath, false},
		{"name with a drive letter", name("C:"), ErrUnsafePath, false},
		{"name with a drive letter and a path", name("c:windows"), ErrUnsafePath, false},
		{"name of 256 bytes", name(strings.Repeat("n", 256)), ErrUnsafePath, false},
		{"name of 255 bytes", name(strings.Repeat("n", 255)), nil, false},
		{".. in a path", files(p("..", "x")), ErrUnsafePath, false},
		{".. deep in a path", files(p("a", "b", "..", "..", "..", "x")), ErrUnsafePath, false},
		{"absolute path component", files(p("/etc/passwd")), ErrUnsafePath, false},
		{"separator inside a component", files(p("a/../../b")), ErrUnsafePath, false},
		{"backslash inside a component", files(p(`a\..\..\b`)), ErrUnsafePath, false},
		{"empty path", files(p()), ErrUnsafePath, false},
		{"empty component", files(p("a", "", "b")), ErrUnsafePath, false},
		{"drive letter component", files(p("D:", "x")), ErrUnsafePath, false},
		{"NUL in a component", files(p("a\x00/../x")), ErrUnsafePath, false},
		{"tab in a component", files(p("a\tb")), ErrUnsafePath, false},
		{"component of 300 bytes", files(p(strings.Repeat("c", 300))), ErrUnsafePath, false},
		{"path of 5000 bytes", files(p(strings.Split(strings.Repeat(strings.Repeat("d", 200)+"/", 25), "/")[:25]...)), ErrUnsafePath, false},
		{"a file given twice", files(p("a"), p("a")), ErrUnsafePath, false},
		{"a file that is also a folder", files(p("a"), p("a", "b")), ErrUnsafePath, false},
		{"a folder that is also a file", files(p("a", "b"), p("a")), ErrUnsafePath, false},
		{"unsafe path.utf-8 over a safe path", func(i *metainfo.Info) {
			files(p("ok"))(i)
			i.Files[0].PathUtf8 = p("..", "x")
		}, ErrUnsafePath, false},
		{"unsafe name.utf-8 over a safe name", func(i *metainfo.Info) { i.NameUtf8 = ".." }, ErrUnsafePath, false},
		{"negative length", func(i *metainfo.Info) { i.Length = -1 }, ErrUnsupported, false},
		{"lengths that overflow", func(i *metainfo.Info) {
			files(p("a"), p("b"))(i)
			i.Files[0].Length, i.Files[1].Length = 1<<62, 1<<62
		}, ErrUnsupported, false},
		{"a piece of 1 TiB", func(i *metainfo.Info) { i.PieceLength = 1 << 40 }, ErrUnsupported, false},
		{"a hybrid v1/v2 torrent of several files", func(i *metainfo.Info) {
			files(p("a"), p("b"))(i)
			i.MetaVersion = 2
		}, ErrUnsupported, false},
	}
}

// TestCheckInfoPaths: a torrent that tries to write outside the download
// directory, or in odd places, is refused with a clear error, and opening
// its storage creates nothing.
func TestCheckInfoPaths(t *testing.T) {
	for _, win := range []bool{false, true} {
		for _, tc := range pathCases() {
			t.Run(map[bool]string{false: "here/", true: "windows/"}[win]+tc.name, func(t *testing.T) {
				defer func(w bool) { onWindows = w }(onWindows)
				onWindows = win
				info := metainfo.Info{Name: "t", PieceLength: BlockSize, Length: 1, Pieces: make([]byte, 20)}
				tc.mod(&info)
				want := tc.want
				if tc.windows && win {
					want = ErrUnsafePath
				}
				err := CheckInfo(&info)
				if want == nil {
					require.NoError(t, err)
					return
				}
				require.ErrorIs(t, err, want)
				t.Logf("%v", err)
				parent := t.TempDir()
				dir := filepath.Join(parent, "downloads")
				require.NoError(t, os.Mkdir(dir, 0o755))
				_, err = OpenStorage(StorageConfig{Dir: dir, Info: &info})
				require.ErrorIs(t, err, want)
				entries, err := os.ReadDir(parent)
				require.NoError(t, err)
				assert.Len(t, entries, 1, "nothing written beside the download directory")
				entries, err = os.ReadDir(dir)
				require.NoError(t, err)
				assert.Empty(t, entries, "nothing written in it")
			})
		}
	}
}

// FuzzInfoPaths: whatever an info dictionary says, if CheckInfo accepts it,
// every file the storage would write lies inside the download directory.
func FuzzInfoPaths(f *testing.F) {
	for _, tc := range pathCases() {
		info := metainfo.Info{Name: "t", PieceLength: BlockSize, Length: 1, Pieces: make([]byte, 20)}
		tc.mod(&info)
		b, err := bencode.Marshal(info)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := filepath.Join(string(filepath.Separator)+"downloads", "here")
	f.Fuzz(func(t *testing.T, b []byte) {
		var info metainfo.Info
		if bencode.Unmarshal(b, &info) != nil || CheckInfo(&info) != nil {
			return
		}
		ft, err := fileClient{dir: dir}.open(&info, metainfo.Hash{})
		require.NoError(t, err)
		for _, fs := range ft.files {
			rel, err := filepath.Rel(dir, fs.path)
			require.NoError(t, err)
			require.False(t, rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel), "%q escapes %q", fs.path, dir)
			require.Equal(t, filepath.Join(dir, rel), fs.path)
		}
	})
}
