// Package legacy configures a stock anacrolix torrent client as a legacy
// peer on loopback — one that knows nothing of btt_speed, never bids and
// never pays — for the tests and the swarm demo.
package legacy

import (
	"log/slog"

	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/storage"
)

// Config returns a client config that listens on a random loopback port
// with the DHT, PEX, trackers, uTP, IPv6, port forwarding, webtorrent and
// webseeds off, storing files under dir and logging to log (nil: nowhere).
func Config(dir string, log *slog.Logger) *torrent.ClientConfig {
	cfg := torrent.NewDefaultClientConfig()
	cfg.ListenHost = torrent.LoopbackListenHost
	cfg.ListenPort = 0
	cfg.NoDHT = true
	cfg.DisablePEX = true
	cfg.DisableTrackers = true
	cfg.DisableUTP = true
	cfg.DisableIPv6 = true
	cfg.NoDefaultPortForwarding = true
	cfg.DisableWebtorrent = true
	cfg.DisableWebseeds = true
	cfg.DisableAcceptRateLimiting = true
	cfg.DataDir = dir
	cfg.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{ClientBaseDir: dir, PieceCompletion: storage.NewMapPieceCompletion()})
	cfg.Logger = alog.Default.WithFilterLevel(alog.Disabled)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Slogger = log
	return cfg
}
