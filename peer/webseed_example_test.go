package peer_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/peer"
)

// A download from a BEP 19 web seed alone: an HTTP server on 127.0.0.1
// holding the file.
func ExampleTorrent_AddWebSeeds() {
	// Make a file and its torrent.
	src, _ := os.MkdirTemp("", "webseed")
	defer os.RemoveAll(src)
	path := filepath.Join(src, "hello.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("hello, web seed\n", 10000)), 0o644); err != nil {
		panic(err)
	}
	info := metainfo.Info{PieceLength: 32 << 10}
	if err := info.BuildFromFilePath(path); err != nil {
		panic(err)
	}
	infoBytes, _ := bencode.Marshal(info)
	mi := &metainfo.MetaInfo{InfoBytes: infoBytes}

	// The web seed: any HTTP server that answers range requests.
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()

	dst, _ := os.MkdirTemp("", "leech")
	defer os.RemoveAll(dst)
	cl, err := peer.NewClient(peer.Config{NoListen: true})
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	ctx := context.Background()
	t, err := cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dst})
	if err != nil {
		panic(err)
	}
	// A directory URL: BEP 19 adds the torrent's name (here the file's).
	// The server is on loopback, which a web seed reaches only if allowed.
	if err := t.AddWebSeeds([]string{srv.URL + "/"}, &peer.WebSeedConfig{AllowPrivate: true}); err != nil {
		panic(err)
	}
	select {
	case <-t.Done():
	case <-time.After(time.Minute):
		panic("timed out")
	}
	ws, _ := t.WebSeeds(ctx)
	st, _ := t.Stats(ctx)
	fmt.Printf("%d of %d pieces, %d bytes from the web seed\n", st.PiecesDone, st.Pieces, ws[0].Downloaded)
	// Output:
	// 5 of 5 pieces, 160000 bytes from the web seed
}
