package peer_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/peer"
)

// exampleSwarm makes a torrent of a directory with two files of 20 KiB, starts a
// seeder of it on 127.0.0.1, and returns a leecher client, the metainfo,
// the seeder's address and a cleanup.
func exampleSwarm() (*peer.Client, *metainfo.MetaInfo, netip.AddrPort, func()) {
	src, _ := os.MkdirTemp("", "seed")
	root := filepath.Join(src, "show")
	_ = os.MkdirAll(root, 0o755)
	// 20 KiB each, in pieces of 16 KiB: the second piece holds the end
	// of one and the start of the other.
	_ = os.WriteFile(filepath.Join(root, "episode1.txt"), bytes.Repeat([]byte("previously, on the swarm.\n"), 20<<10/26+1)[:20<<10], 0o644)
	_ = os.WriteFile(filepath.Join(root, "episode2.txt"), bytes.Repeat([]byte("the seeder strikes back\n"), 20<<10/24+1)[:20<<10], 0o644)
	info := metainfo.Info{PieceLength: 16 << 10}
	if err := info.BuildFromFilePath(root); err != nil {
		panic(err)
	}
	ib, _ := bencode.Marshal(info)
	mi := &metainfo.MetaInfo{InfoBytes: ib}
	seeder, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	if _, err := seeder.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: mi, Dir: src, Verify: true}); err != nil {
		panic(err)
	}
	leecher, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	return leecher, mi, seeder.Addr(), func() { leecher.Close(); seeder.Close(); os.RemoveAll(src) }
}

// Stream a file: a Reader returns the file's bytes as they are verified,
// fetching the pieces under and ahead of it first.
func ExampleFile_NewReader() {
	leecher, mi, seeder, done := exampleSwarm()
	defer done()
	dst, _ := os.MkdirTemp("", "leech")
	defer os.RemoveAll(dst)
	t, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: mi, Dir: dst, Peers: []netip.AddrPort{seeder}})
	if err != nil {
		panic(err)
	}
	r := t.Files()[1].NewReader()
	defer r.Close()
	r.SetReadahead(8 << 20)      // raise the next 8 MiB
	r.SetPlaybackRate(1_000_000) // a 8 Mbit/s video: what a Deadline bidder plans for
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r.SetContext(ctx)
	b, err := io.ReadAll(r) // io.Copy to a player, or http.ServeContent
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes: %s", len(b), b[:24])
	// Output:
	// 20480 bytes: the seeder strikes back
}

// Choose files: start with none wanted, then want one. Only its pieces
// (and those it shares with a neighbour) are fetched and paid for.
func ExampleFile_SetPriority() {
	leecher, mi, seeder, done := exampleSwarm()
	defer done()
	dst, _ := os.MkdirTemp("", "leech")
	defer os.RemoveAll(dst)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events := leecher.Subscribe(ctx)
	t, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{
		MetaInfo: mi, Dir: dst, Peers: []netip.AddrPort{seeder},
		FilePriority: func(int, string) peer.PiecePriority { return peer.PiecePriorityNone },
	})
	if err != nil {
		panic(err)
	}
	for _, f := range t.Files() {
		if f.DisplayPath() == "episode1.txt" {
			f.SetPriority(peer.PiecePriorityNormal)
		}
	}
	for ev := range events {
		if _, ok := ev.(peer.WantedComplete); ok {
			break
		}
	}
	for _, f := range t.Files() {
		fmt.Printf("%s: %d of %d bytes\n", f.Path(), f.BytesCompleted(), f.Length())
	}
	// Output:
	// show/episode1.txt: 20480 of 20480 bytes
	// show/episode2.txt: 12288 of 20480 bytes
}
