package metrics_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/metrics"
	"github.com/bttspeed/bttspeed/peer"
)

// BenchmarkCollect1000 scrapes a client of 1,000 idle torrents (info
// known, no peers): the cost of one Collect, read one torrent at a time
// and eight at a time, with and without the per-torrent series.
func BenchmarkCollect1000(b *testing.B) {
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", NoListen: true})
	require.NoError(b, err)
	defer cl.Close()
	dir := b.TempDir()
	for i := range 1000 {
		hash := make([]byte, 20)
		_, _ = rand.Read(hash)
		ib, err := bencode.Marshal(metainfo.Info{Name: fmt.Sprintf("t%04d.bin", i), PieceLength: 16 << 10, Length: 16 << 10, Pieces: hash})
		require.NoError(b, err)
		_, err = cl.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: &metainfo.MetaInfo{InfoBytes: ib}, Dir: dir})
		require.NoError(b, err)
	}
	for _, bc := range []struct {
		name string
		opts []metrics.Option
	}{
		{"workers=1", []metrics.Option{metrics.WithWorkers(1)}},
		{"workers=8", nil},
		{"workers=8/no-torrent-series", []metrics.Option{metrics.WithoutTorrentSeries()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := metrics.New(cl, bc.opts...)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				ch := make(chan prometheus.Metric, 16384)
				c.Collect(ch)
				close(ch)
				n = len(ch)
			}
			b.ReportMetric(float64(n), "series")
		})
	}
}
