package peer_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/peer"
)

// A seeder and a leecher in one process, on 127.0.0.1.
func Example() {
	// Make a file and its torrent.
	src, _ := os.MkdirTemp("", "seed")
	defer os.RemoveAll(src)
	path := filepath.Join(src, "hello.txt")
	if err := os.WriteFile(path, []byte("hello, swarm\n"), 0o644); err != nil {
		panic(err)
	}
	info := metainfo.Info{PieceLength: 16 << 10}
	if err := info.BuildFromFilePath(path); err != nil {
		panic(err)
	}
	infoBytes, _ := bencode.Marshal(info)
	mi := &metainfo.MetaInfo{InfoBytes: infoBytes}

	// The seeder hashes the file it has (Verify) and serves it.
	seeder, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	defer seeder.Close()
	ctx := context.Background()
	if _, err := seeder.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: src, Verify: true}); err != nil {
		panic(err)
	}

	// The leecher downloads it from the seeder, given by hand.
	dst, _ := os.MkdirTemp("", "leech")
	defer os.RemoveAll(dst)
	leecher, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	defer leecher.Close()
	t, err := leecher.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: mi, Dir: dst, Peers: []netip.AddrPort{seeder.Addr()}})
	if err != nil {
		panic(err)
	}
	select {
	case <-t.Done():
	case <-time.After(time.Minute):
		panic("timed out")
	}
	got, _ := os.ReadFile(filepath.Join(dst, "hello.txt"))
	st, _ := t.Stats(ctx)
	fmt.Printf("%s%d of %d pieces\n", got, st.PiecesDone, st.Pieces)
	// Output:
	// hello, swarm
	// 1 of 1 pieces
}
