package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bttspeed/bttspeed/metrics"
	"github.com/bttspeed/bttspeed/peer"
)

// An embedder registers the client's collector beside its own metrics and
// serves them; with a speed extension, metrics.WithSpeed(ext) adds its
// prices, spend and earnings.
func Example() {
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	defer cl.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.New(cl))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, "bttspeed_torrents") || strings.HasPrefix(line, "bttspeed_peers{") {
			fmt.Println(line)
		}
	}
	// Output:
	// bttspeed_peers{protocol="btt_speed"} 0
	// bttspeed_peers{protocol="legacy"} 0
	// bttspeed_torrents 0
}
