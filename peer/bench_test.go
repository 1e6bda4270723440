package peer_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/mse"

	"github.com/bttspeed/bttspeed/internal/transferbench"
	"github.com/bttspeed/bttspeed/peer"
)

// BenchmarkLoopbackTransfer moves one torrent (256 KiB pieces) over
// 127.0.0.1 from a seeder to a fresh leecher: ours to ours, and a stock
// anacrolix client to a stock anacrolix client, in the same run; ours-mse
// and anacrolix-mse are ours and anacrolix with RC4 encryption required on
// both sides, ours-utp and anacrolix-utp the two over uTP alone, utp-pairs
// the two in pairs (see transferbench.Pairs): on a shared machine whose speed drifts
// between sub-benchmarks, the pairs are what compare fairly. A transfer is
// timed from adding the torrent to its last piece verified; closing the
// leecher after it is timed apart (close-ms/op). With btt_speed payments
// on (ours-paid, paid-vs-ours), it is peer/speed's BenchmarkLoopbackTransfer.
//
//	go test -run '^$' -bench LoopbackTransfer ./peer/
//	go test -run '^$' -bench 'LoopbackTransfer/(ours|anacrolix)-(mse|utp)$' ./peer/
//	go test -run '^$' -bench 'LoopbackTransfer/utp-pairs' -benchtime 10x ./peer/
//	BTTSPEED_BENCH_SIZE=1GiB go test -run '^$' -bench LoopbackTransfer ./peer/
func BenchmarkLoopbackTransfer(b *testing.B) {
	size := transferbench.Size(b, "BTTSPEED_BENCH_SIZE", 256<<20, 1)
	transferbench.PrintCongestionControl()
	f := newFixture(b, size, 256<<10)
	b.Run("ours", func(b *testing.B) {
		transferbench.Run(b, size, unpaidTransfers(b, f))
	})
	b.Run("anacrolix", func(b *testing.B) {
		transferbench.Run(b, size, anacrolixTransfers(b, f, func(*torrent.ClientConfig) {}))
	})
	// RC4 both ways (MSE/PE, encryption required on both sides): what
	// the cipher costs beside SHA-1 and the copies.
	b.Run("ours-mse", func(b *testing.B) {
		transferbench.Run(b, size, unpaidTransfersWith(b, f, func(c *peer.Config) { c.Encryption = peer.EncryptionRequire }))
	})
	b.Run("anacrolix-mse", func(b *testing.B) {
		transferbench.Run(b, size, anacrolixTransfers(b, f, requireRC4))
	})
	// uTP alone on both sides (libutp through cgo for both clients).
	b.Run("ours-utp", func(b *testing.B) {
		transferbench.Run(b, size, unpaidTransfersWith(b, f, func(c *peer.Config) { c.Protocols = peer.ProtocolUTP }))
	})
	b.Run("anacrolix-utp", func(b *testing.B) {
		transferbench.Run(b, size, anacrolixTransfers(b, f, utpOnlyAnacrolix))
	})
	// The two over uTP in pairs (see transferbench.Pairs): ours-utp/anacrolix-utp
	// is the ratio, measured fairly on a shared machine.
	b.Run("utp-pairs", func(b *testing.B) {
		ours := unpaidTransfersWith(b, f, func(c *peer.Config) { c.Protocols = peer.ProtocolUTP })
		transferbench.Pairs(b, size, [2]string{"anacrolix-utp", "ours-utp"}, anacrolixTransfers(b, f, utpOnlyAnacrolix), ours)
	})
}

// requireRC4 sets an anacrolix client to require header obfuscation and
// RC4, as Config.Encryption = EncryptionRequire does ours.
func requireRC4(cfg *torrent.ClientConfig) {
	cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: true}
	cfg.CryptoProvides = mse.CryptoMethodRC4
	cfg.CryptoSelector = func(provided mse.CryptoMethod) mse.CryptoMethod { return provided & mse.CryptoMethodRC4 }
}

// anacrolixTransfers starts a stock anacrolix seeder of f, its config
// changed by mod, and returns a setup for transferbench.Run: a fresh anacrolix
// leecher with the same config.
func anacrolixTransfers(b *testing.B, f *fixture, mod func(*torrent.ClientConfig)) transferbench.Setup {
	ac := newAnacrolixWith(b, f.dir, true, mod)
	at, err := ac.AddTorrent(f.mi)
	if err != nil {
		b.Fatal(err)
	}
	if err := at.VerifyDataContext(context.Background()); err != nil {
		b.Fatal(err)
	}
	seedAddr := ac.ListenAddrs()[0] // TCP's, or uTP's with TCP off
	return func(dir string) transferbench.Transfer {
		lc := newAnacrolixWith(b, dir, false, mod)
		return transferbench.Transfer{Run: func() {
			lt, err := lc.AddTorrent(f.mi)
			if err != nil {
				b.Fatal(err)
			}
			lt.AddPeers([]torrent.PeerInfo{{Addr: seedAddr, Trusted: true}})
			<-lt.GotInfo()
			lt.DownloadAll()
			select {
			case <-lt.Complete().On():
			case <-time.After(10 * time.Minute):
				b.Fatal("transfer did not complete")
			}
		}, Close: func() { lc.Close() }}
	}
}

// unpaidTransfers starts a seeder of f and returns a setup for
// transferbench.Run: a fresh leecher of ours, no payments.
func unpaidTransfers(b *testing.B, f *fixture) transferbench.Setup {
	return unpaidTransfersWith(b, f, func(*peer.Config) {})
}

// unpaidTransfersWith is unpaidTransfers with both sides' config changed
// by mod.
func unpaidTransfersWith(b *testing.B, f *fixture, mod func(*peer.Config)) transferbench.Setup {
	seeder := newClient(b, mod)
	tor := seed(b, seeder, f)
	return func(dir string) transferbench.Transfer {
		cfg := peer.Config{ListenAddr: "127.0.0.1:0"}
		mod(&cfg)
		leecher, err := peer.NewClient(cfg)
		if err != nil {
			b.Fatal(err)
		}
		var pacing []uint64
		return transferbench.Transfer{
			Run:    func() { download(b, leecher, f, dir, seeder.Addr(), func() { pacing = tor.PacingRates() }) },
			Close:  func() { leecher.Close() },
			Pacing: func() []uint64 { return pacing },
		}
	}
}

// download has leecher download f into dir from the seeder at addr. If
// halfway is set, it is called once, from another goroutine, when half of
// f or less is left to download (the leecher's Left, read every
// millisecond), and has returned when download does.
func download(b *testing.B, leecher *peer.Client, f *fixture, dir string, addr netip.AddrPort, halfway func()) {
	tor, err := leecher.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: f.mi, Dir: dir, Peers: []netip.AddrPort{addr}})
	if err != nil {
		b.Fatal(err)
	}
	if halfway != nil {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		defer wg.Wait()
		defer close(stop)
		wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if tor.Left() <= f.info.TotalLength()/2 {
						halfway()
						return
					}
				}
			}
		})
	}
	select {
	case <-tor.Done():
	case <-time.After(10 * time.Minute):
		b.Fatal("transfer did not complete")
	}
}
