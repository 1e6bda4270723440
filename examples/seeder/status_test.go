package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/browser"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

// fakeSnapshot is a seeder's state as the page would show it: a paying
// peer in a paid slot, a legacy peer in the free slot, a refused bidder,
// and channels open and closed.
func fakeSnapshot() Snapshot {
	half, _ := btt.ParseBTT("0.5")
	quarter, _ := btt.ParseBTT("0.25")
	const ih, ih2 = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12", "cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34"
	return Snapshot{
		Time: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), Payee: "TE2H9hWjzYdwzDFRJfx9BFhr4MmjH1CHaz", Listen: "127.0.0.1:6881",
		Reserve: btt.NewAmount(931322574), PaidSlots: 4, FreeSlots: 1,
		Uploaded: 60 << 20, UpRate: 3 << 20, HeldPaid: 1, HeldFree: 1, Clearing: btt.NewAmount(931322574), HighestBid: btt.NewAmount(2000000000),
		Torrents: []TorrentRow{
			{Name: "movie.mkv", InfoHash: ih, Magnet: "magnet:?xt=urn:btih:" + ih, File: "/srv/movie.mkv.torrent", Origin: "/srv/movie.mkv", Length: 100 << 20, Pieces: 100, PiecesDone: 100,
				Uploaded: 60 << 20, UpRate: 3 << 20, Peers: 3, BttSpeedPeers: 2, HeldPaid: 1, HeldFree: 1, Clearing: btt.NewAmount(931322574), Sold: 40 << 20, Owed: half},
			{Name: "song.flac", InfoHash: ih2, Magnet: "magnet:?xt=urn:btih:" + ih2, File: "/state/torrents/song.flac.torrent", Origin: "/srv/in/song.flac", Watched: true, Length: 30 << 20, Pieces: 30, PiecesDone: 30},
		},
		Peers: []PeerRow{
			{Torrent: "movie.mkv", InfoHash: ih, Addr: "127.0.0.1:40001", Client: "-BS0100-", Transport: "utp", Encrypted: true, Slot: "paid", Interested: true, BttSpeed: true, Have: 40, Uploaded: 40 << 20, UpRate: 2 << 20,
				Bid: btt.NewAmount(2000000000), Price: btt.NewAmount(931322574), Sold: 40 << 20, Owed: half, Paid: half, Credit: 4 << 20, HeldSeconds: 1.25,
				Channel: "0101010101010101010101010101010101010101010101010101010101010101"},
			{Torrent: "movie.mkv", InfoHash: ih, Addr: "127.0.0.1:40002", Client: "-TR3000-", Transport: "tcp", Slot: "free", Interested: true, Have: 10, Uploaded: 20 << 20, UpRate: 1 << 20},
			{Torrent: "movie.mkv", InfoHash: ih, Addr: "127.0.0.1:40003", Client: "-BS0100-", Transport: "tcp", Slot: "choked", Interested: true, BttSpeed: true, Bid: btt.NewAmount(5), Refused: "paychan: bad voucher signature"},
		},
		Earned: btt.BTT(1), Redeemed: half, Redeemable: half, Owed: half, Sold: 40 << 20,
		Channels: []ChannelRow{
			{ID: "0101010101010101010101010101010101010101010101010101010101010101", Payer: "TDkpULh7uWDfG7wRNFhmccpWaNtDqHf8Xb", State: "open", Deposit: btt.BTT(10), Best: half, Redeemed: quarter, Sold: 40 << 20, Expiry: time.Date(2026, 5, 2, 12, 0, 0, 0, time.UTC)},
			{ID: "0202020202020202020202020202020202020202020202020202020202020202", Payer: "TQmxvm9sjrb1Bs9bzzZLAzWMDdcPvYZFf3", State: "closed", Deposit: btt.BTT(1), Best: half, Redeemed: quarter, Expiry: time.Date(2026, 4, 2, 12, 0, 0, 0, time.UTC)},
		},
		Redeem: RedeemRow{Redemptions: 3, Failures: 1, LastError: "node down"},
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestStatusPage: the page, the JSON and the metrics show the snapshot.
func TestStatusPage(t *testing.T) {
	s := fakeSnapshot()
	srv := httptest.NewServer(newStatusHandler(func(context.Context) (Snapshot, error) { return s, nil }, nil, quiet()))
	defer srv.Close()

	code, body := get(t, srv.URL+"/")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		"movie.mkv", s.Torrents[0].InfoHash, s.Payee, `data-addr="127.0.0.1:40001" data-slot="paid"`, `data-addr="127.0.0.1:40002" data-slot="free"`,
		`data-addr="127.0.0.1:40003" data-slot="choked"`, "legacy peer (no btt_speed)", "refused: paychan: bad voucher signature",
		`id="earned" title="1000000000000000000 base units">1 BTT`, `id="redeemed" title="500000000000000000 base units">0.5 BTT`,
		`id="redeemable" title="500000000000000000 base units">0.5 BTT`, "931322574 base/B (0.999999999339134976 BTT/GiB)",
		"1 paid, 1 free", `data-id="0202020202020202020202020202020202020202020202020202020202020202" data-state="closed"`,
		"3 (1 failed: node down)", "100 / 100", "30 / 30", `data-transport="utp" data-encrypted="true">utp, RC4`, "held 1.2 s in all", `data-infohash="cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34"`,
		`id="chart-rate"`, `id="chart-bytes"`, `id="chart-btt"`, `id="chart-price"`, `data-series="reserve"`,
	} {
		assert.Contains(t, body, want)
	}

	code, body = get(t, srv.URL+"/status.json")
	require.Equal(t, http.StatusOK, code)
	var back Snapshot
	require.NoError(t, json.Unmarshal([]byte(body), &back))
	assert.Equal(t, s, back)

	code, _ = get(t, srv.URL+"/nope")
	assert.Equal(t, http.StatusNotFound, code)

	code, body = get(t, srv.URL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	val := func(name string, labels ...string) float64 {
		t.Helper()
		f, ok := fams[name]
		require.True(t, ok, "metric %s", name)
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			}
		}
		t.Fatalf("no %s%v", name, labels)
		return 0
	}
	// Only the seeder's own metrics come from the snapshot: the engine's
	// and the extension's are metrics.Collector's (run.go registers it;
	// TestRunSeeds reads them from a running seeder).
	assert.Equal(t, 1.0, val("bttspeed_seeder_up"))
	assert.Equal(t, 4.0, val("bttspeed_seeder_slots", "kind", "paid"))
	assert.Equal(t, 1.0, val("bttspeed_seeder_slots", "kind", "free"))
	assert.Equal(t, 1.0, val("bttspeed_seeder_channels", "state", "open"))
	assert.Equal(t, 1.0, val("bttspeed_seeder_channels", "state", "closed"))
	assert.Equal(t, 0.0, val("bttspeed_seeder_channels", "state", "closing"))
	assert.Equal(t, 3.0, val("bttspeed_seeder_redemptions_total"))
	assert.Equal(t, 1.0, val("bttspeed_seeder_redemption_failures_total"))
	assert.Contains(t, fams, "go_goroutines", "the Go collector is registered")
	for _, gone := range []string{"bttspeed_seeder_peers", "bttspeed_seeder_bttspeed_peers", "bttspeed_seeder_torrents", "bttspeed_seeder_uploaded_bytes_total", "bttspeed_seeder_torrent_peers", "bttspeed_seeder_earned_btt"} {
		assert.NotContains(t, fams, gone, "now bttspeed_%s, from metrics.Collector", strings.TrimPrefix(gone, "bttspeed_seeder_"))
	}
}

// TestStatusPageDown: a snapshot that fails gives 503 and up 0.
func TestStatusPageDown(t *testing.T) {
	srv := httptest.NewServer(newStatusHandler(func(context.Context) (Snapshot, error) { return Snapshot{}, errors.New("torrent closed") }, nil, quiet()))
	defer srv.Close()
	code, body := get(t, srv.URL+"/")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "torrent closed")
	_, body = get(t, srv.URL+"/metrics")
	assert.Contains(t, body, "bttspeed_seeder_up 0")
	assert.NotContains(t, body, "bttspeed_seeder_peers")
}

// TestStatusPageChromium: headless Chromium renders the page with its
// peers, slots, figures and channels.
func TestStatusPageChromium(t *testing.T) {
	bin, err := browser.Find()
	if err != nil {
		t.Skip(err)
	}
	s := fakeSnapshot()
	srv := httptest.NewServer(newStatusHandler(func(context.Context) (Snapshot, error) { return s, nil }, nil, quiet()))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dom, err := browser.DumpDOM(ctx, bin, t.TempDir(), srv.URL+"/")
	require.NoError(t, err)
	for _, want := range []string{
		"<title>bttspeed seeder — 2 torrents</title>", "<h1>bttspeed seeder: 2 torrents</h1>",
		`<tr class="peer paid" data-addr="127.0.0.1:40001" data-slot="paid">`,
		`<tr class="peer free" data-addr="127.0.0.1:40002" data-slot="free"`,
		`<tr class="peer choked" data-addr="127.0.0.1:40003" data-slot="choked"`,
		`<a href="magnet:?xt=urn:btih:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12">magnet</a>`,
		`id="earned" title="1000000000000000000 base units">1 BTT</td>`,
		`id="redeemable" title="500000000000000000 base units">0.5 BTT</td>`,
		"2000000000 base/B", "1 paid, 1 free",
		`data-id="0101010101010101010101010101010101010101010101010101010101010101" data-state="open"`,
		"TDkpULh7uWDfG7wRNFhmccpWaNtDqHf8Xb",
		`<td class="transport" data-transport="utp" data-encrypted="true">utp, RC4</td>`,
		`<td class="transport" data-transport="tcp" data-encrypted="false">tcp, plain</td>`,
	} {
		assert.Contains(t, dom, want)
	}
}

func TestCheckHTTPAddr(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		allow bool
		ok    bool
	}{
		{"127.0.0.1:8080", false, true}, {"127.0.0.1:0", false, true}, {"[::1]:8080", false, true}, {"localhost:8080", false, true},
		{"0.0.0.0:8080", false, false}, {":8080", false, false}, {"192.168.1.2:80", false, false}, {"example.com:80", false, false},
		{"0.0.0.0:8080", true, true}, {":8080", true, true}, {"nonsense", false, false}, {"nonsense", true, false},
	} {
		err := checkHTTPAddr(tc.addr, tc.allow)
		if tc.ok {
			assert.NoError(t, err, tc.addr)
			continue
		}
		require.Error(t, err, tc.addr)
		assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
	}
	assert.ErrorContains(t, checkHTTPAddr("0.0.0.0:1", false), "-http-allow-remote")
}

// TestStatusJSONKeys: every key of status.json and history.json is
// camelCase.
func TestStatusJSONKeys(t *testing.T) {
	s := fakeSnapshot()
	srv := httptest.NewServer(newStatusHandler(func(context.Context) (Snapshot, error) { return s, nil }, nil, quiet()))
	defer srv.Close()
	for _, path := range []string{"/status.json", "/history.json"} {
		_, body := get(t, srv.URL+path)
		keys := regexp.MustCompile(`"([^"]+)":`).FindAllStringSubmatch(body, -1)
		require.NotEmpty(t, keys)
		for _, k := range keys {
			assert.Regexp(t, `^[a-z][a-zA-Z]*$`, k[1], "%s: key %q", path, k[1])
		}
	}
	_, body := get(t, srv.URL+"/status.json")
	for _, k := range []string{`"infoHash"`, `"bttSpeed"`, `"heldSeconds"`, `"torrents"`, `"redemptions"`, `"piecesDone"`} {
		assert.Contains(t, body, k)
	}
}

// TestHistory: the ring keeps the last samples, oldest first.
func TestHistory(t *testing.T) {
	h := newHistory(3, time.Second)
	assert.Empty(t, h.samples())
	for i := range 5 {
		h.add(Sample{Uploaded: int64(i)})
	}
	var got []int64
	for _, s := range h.samples() {
		got = append(got, s.Uploaded)
	}
	assert.Equal(t, []int64{2, 3, 4}, got)
	assert.Equal(t, Sample{Time: time.Unix(5, 0), Uploaded: 10, Sold: 4, Free: 6, UpRate: 3}, sampleOf(Snapshot{Time: time.Unix(5, 0), Uploaded: 10, Sold: 4, UpRate: 3}))
	assert.Equal(t, int64(0), sampleOf(Snapshot{Uploaded: 3, Sold: 4}).Free, "never negative")
}

// fakeHistory is an hour of a seeder getting busier: rates, paid and
// free bytes, earnings and redemptions, and a clearing price above the
// reserve.
func fakeHistory() *history {
	h := newHistory(historySamples, historyEvery)
	t0 := time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)
	for i := range 60 {
		earned := btt.NewAmount(uint64(i) * 1e16)
		h.add(Sample{Time: t0.Add(time.Duration(i) * time.Minute), UpRate: int64(i%10+1) << 20, Uploaded: int64(i) << 24, Sold: int64(i) << 23, Free: int64(i) << 22,
			Earned: earned, Redeemed: earned.DivUint64(2), Redemptions: i / 10, Clearing: btt.NewAmount(uint64(931322574 + i*1e7)), Reserve: btt.NewAmount(931322574)})
	}
	return h
}

// TestStatusChartsChromium: headless Chromium draws the four charts with
// their data: a screenshot holds every series' colour in quantity.
func TestStatusChartsChromium(t *testing.T) {
	bin, err := browser.Find()
	if err != nil {
		t.Skip(err)
	}
	s := fakeSnapshot()
	srv := httptest.NewServer(newStatusHandler(func(context.Context) (Snapshot, error) { return s, nil }, fakeHistory(), quiet()))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	shot := filepath.Join(t.TempDir(), "status.png")
	args := append(append([]string{}, browser.Flags...), "--user-data-dir="+t.TempDir(), "--hide-scrollbars", "--window-size=1300,1100", "--screenshot="+shot, srv.URL+"/")
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	counts := map[string]int{}
	want := []string{colorUpRate, colorPaid, colorFree, colorEarned, colorRedeemed, colorClearing, colorReserve}
	rgb := map[[3]uint32]string{}
	for _, c := range want {
		var r, g, b uint32
		_, err := fmt.Sscanf(c, "#%02x%02x%02x", &r, &g, &b)
		require.NoError(t, err)
		rgb[[3]uint32{r, g, b}] = c
	}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if c, ok := rgb[[3]uint32{r >> 8, g >> 8, b >> 8}]; ok {
				counts[c]++
			}
		}
	}
	for _, c := range want {
		// A line across a chart is hundreds of pixels; the legend's
		// swatch alone is 48.
		assert.Greater(t, counts[c], 300, "pixels of %s in the screenshot (all: %v)", c, counts)
	}
}

// TestStatusPageBounded: with thousands of torrents the page shows the
// busiest maxRows, in their order, and says how many more there are.
func TestStatusPageBounded(t *testing.T) {
	s := fakeSnapshot()
	s.Torrents = nil
	for i := range 1000 {
		s.Torrents = append(s.Torrents, TorrentRow{Name: fmt.Sprintf("t%04d", i), InfoHash: fmt.Sprintf("%040d", i), UpRate: int64(i % 7), Uploaded: int64(i)})
	}
	srv := httptest.NewServer(newStatusHandler(func(context.Context) (Snapshot, error) { return s, nil }, nil, quiet()))
	defer srv.Close()
	_, body := get(t, srv.URL+"/")
	assert.Equal(t, maxRows, strings.Count(body, `<tr class="torrent"`))
	assert.Contains(t, body, "and 800 quieter torrents")
	assert.Contains(t, body, ">t0993<", "rate 6, the most uploaded")
	assert.NotContains(t, body, ">t0000<", "rate 0")
	assert.Less(t, strings.Index(body, ">t0006<"), strings.Index(body, ">t0013<"), "in their order")
	_, js := get(t, srv.URL+"/status.json")
	assert.Equal(t, 1000, strings.Count(js, `"origin"`), "the JSON has them all")

	rows, more := busiest([]int{5, 1, 9}, func(v int) (int64, int64) { return int64(v), 0 })
	assert.Equal(t, []int{5, 1, 9}, rows)
	assert.Zero(t, more)
}
