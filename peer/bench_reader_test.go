package peer_test

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/bttspeed/bttspeed/internal/transferbench"
	"github.com/bttspeed/bttspeed/peer"
)

// BenchmarkLoopbackTransferReader compares, in one run, a plain loopback
// download (as BenchmarkLoopbackTransfer's "ours") with the same download
// consumed by a Reader from its first byte as it arrives (readahead 16
// MiB), whose window re-prioritises pieces as it moves: the two should be
// within noise of each other. Run with -count and compare with benchstat.
func BenchmarkLoopbackTransferReader(b *testing.B) {
	size := transferbench.Size(b, "BTTSPEED_BENCH_SIZE", 256<<20, 1)
	f := newFixture(b, size, 256<<10)
	b.Run("ours", func(b *testing.B) {
		transferbench.Run(b, size, unpaidTransfers(b, f))
	})
	b.Run("ours-reader", func(b *testing.B) {
		seeder := newClient(b, nil)
		seed(b, seeder, f)
		transferbench.Run(b, size, func(dir string) transferbench.Transfer {
			leecher, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
			if err != nil {
				b.Fatal(err)
			}
			return transferbench.Transfer{
				Run:   func() { readWhileDownloading(b, leecher, f, dir, seeder.Addr()) },
				Close: func() { leecher.Close() },
			}
		})
	})
}

// readWhileDownloading downloads f into dir from addr while a Reader reads
// it all; it returns when both are done.
func readWhileDownloading(b *testing.B, leecher *peer.Client, f *fixture, dir string, addr netip.AddrPort) {
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{addr}})
	if err != nil {
		b.Fatal(err)
	}
	r := tor.NewReader()
	defer r.Close()
	r.SetReadahead(16 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r.SetContext(ctx)
	n, err := io.CopyBuffer(io.Discard, r, make([]byte, 256<<10))
	if err != nil || n != f.info.TotalLength() {
		b.Fatalf("read %d bytes of %d: %v", n, f.info.TotalLength(), err)
	}
	select {
	case <-tor.Done():
	case <-ctx.Done():
		b.Fatal("transfer did not complete")
	}
}
