package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/internal/leaktest"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery/discoverytest"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m, devbttc.LeakOptions...) }

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envOf(m map[string]string) chain.Env {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func dataFile(t *testing.T, dir string, size int) string {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	p := filepath.Join(dir, "data.bin")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// TestRunRefuses: every bad flag, missing file, unreachable node and
// empty wallet stops the seeder with exit code 2 and a message that says
// what is wrong.
func TestRunRefuses(t *testing.T) {
	node, err := devnet.Start(context.Background(), devnet.Config{Seed: "seeder-flags", Accounts: 1, DeployContracts: true})
	require.NoError(t, err)
	defer node.Close()
	poor, err := crypto.GenerateKey()
	require.NoError(t, err)
	poorHex := hex.EncodeToString(crypto.FromECDSA(poor))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	data := dataFile(t, dir, 100_000)
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "data.bin.torrent"), []byte("d4:infod6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:01234567890123456789ee"), 0o644))
	otherData := dataFile(t, other, 5000)
	emptyDir := t.TempDir()
	state := t.TempDir()
	base := []string{"-listen", "127.0.0.1:0", "-log-level", "error"}

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		has  string
	}{
		{"nothing to seed", nil, nil, "nothing to seed"},
		{"missing path", []string{filepath.Join(dir, "nope")}, nil, "nothing to seed at"},
		{"missing torrent", []string{"-torrent", filepath.Join(dir, "nope.torrent")}, nil, "no such file"},
		{"bad torrent", []string{"-torrent", data}, nil, "reading the torrent " + data},
		{"bad torrent as an argument", []string{data + ".bad.torrent"}, nil, "-torrent: "},
		{"torrent-out with two paths", []string{"-torrent-out", "x.torrent", data, otherData}, nil, "-torrent-out goes with exactly one PATH"},
		{"watch a file", []string{"-watch", data}, nil, "-watch " + data + ": want a directory"},
		{"bad webseed", []string{"-webseed", "ftp://x/y", data}, nil, "-webseed"},
		{"missing config", []string{"-config", filepath.Join(dir, "nope.conf"), data}, nil, "-config"},
		{"dir with path", []string{"-dir", dir, data}, nil, "-dir goes with -torrent"},
		{"empty folder", []string{emptyDir}, nil, "is empty"},
		{"unknown flag", []string{"-fast", data}, nil, "flag provided but not defined: -fast"},
		{"bad encryption", []string{"-encryption", "rc4", data}, nil, `invalid value "rc4" for flag -encryption: "rc4": want prefer-plain, prefer, require or never`},
		{"bad protocols", []string{"-protocols", "udp", data}, nil, `invalid value "udp" for flag -protocols: "udp": want tcp, utp or tcp,utp`},
		{"key on the command line", []string{"-key", poorHex, data}, nil, "never taken on the command line"},
		{"bad reserve", []string{"-reserve", "cheap", data}, nil, "-reserve \"cheap\""},
		{"zero reserve", []string{"-reserve", "0", data}, nil, "above zero"},
		{"bad threshold", []string{"-redeem-threshold", "-1", data}, nil, "-redeem-threshold"},
		{"bad piece length", []string{"-piece-length", "100000", data}, nil, "power of two"},
		{"bad duration", []string{"-redeem-every", "0s", data}, nil, "-redeem-every"},
		{"bad slots", []string{"-slots", "0", data}, nil, "-slots 0"},
		{"bad credit", []string{"-credit", "lots", data}, nil, "-credit"},
		{"credit below its start", []string{"-credit-start", "1MiB", "-credit", "256KiB", data}, nil, "want a positive start of at most -credit"},
		{"credit growth of one", []string{"-credit-growth", "1", data}, nil, "-credit-growth 1"},
		{"bad listen", []string{"-listen", "nowhere", data}, nil, "-listen"},
		{"bad tracker", []string{"-tracker", "ftp://x/announce", data}, nil, "-tracker"},
		{"bad peer", []string{"-peer", "localhost", data}, nil, "-peer"},
		{"bootstrap without dht", []string{"-dht-bootstrap", "127.0.0.1:1", data}, nil, "-dht-bootstrap needs -dht"},
		{"public http", []string{"-http", "0.0.0.0:0", data}, nil, "not a loopback address"},
		{"bad log format", []string{"-log-format", "xml", data}, nil, "-log-format"},
		{"chain without state", []string{"-chain", node.Addr(), data}, nil, "-chain needs -state"},
		{"escrow without chain", []string{"-escrow", node.Escrow().String(), data}, nil, "-escrow needs -chain"},
		{"unreachable node", []string{"-chain", closed, "-state", state, data}, map[string]string{chain.EnvKey: poorHex}, "cannot reach the TRON node"},
		{"no key", []string{"-chain", node.Addr(), "-state", state, data}, nil, "no key"},
		{"empty wallet", []string{"-chain", node.Addr(), "-state", state, data}, map[string]string{chain.EnvKey: poorHex}, "empty wallet: " + "T"},
		{"data elsewhere", []string{"-torrent", filepath.Join(other, "data.bin.torrent"), "-dir", emptyDir}, nil, "none of the 1 pieces"},
		{"torrent-out is another torrent", []string{"-torrent-out", filepath.Join(other, "data.bin.torrent"), otherData}, nil, "is another torrent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut syncBuffer
			code := run(context.Background(), append(append([]string{}, base...), tc.args...), &out, &errOut, envOf(tc.env))
			assert.Equal(t, cli.ExitSetup, code, "stderr: %s", errOut.String())
			assert.Contains(t, errOut.String(), "seeder: ")
			assert.Contains(t, errOut.String(), tc.has)
			assert.NotContains(t, errOut.String(), "panic")
			assert.NotContains(t, errOut.String()+out.String(), poorHex[10:40], "the key never shows")
		})
	}
	t.Run("empty wallet says how much", func(t *testing.T) {
		var errOut syncBuffer
		run(context.Background(), append(append([]string{}, base...), "-chain", node.Addr(), "-state", t.TempDir(), data), &syncBuffer{}, &errOut, envOf(map[string]string{chain.EnvKey: poorHex}))
		assert.Contains(t, errOut.String(), "has 0 TRX; it needs at least 15 TRX")
	})
	var help syncBuffer
	assert.Equal(t, cli.ExitOK, run(context.Background(), []string{"-h"}, &syncBuffer{}, &help, envOf(nil)))
	assert.Contains(t, help.String(), "usage: seeder")
	assert.Contains(t, help.String(), "-reserve")
}

// TestRunSeeds: the seeder run in process on the embedded devnet makes
// the torrent, serves a stock leecher through its free slot, shows it on
// the status page, and stops cleanly when its context ends.
func TestRunSeeds(t *testing.T) {
	dir := t.TempDir()
	data := dataFile(t, dir, 1<<20)
	tr := discoverytest.StartTracker(t, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-http", "127.0.0.1:0", "-rechoke", "200ms", "-piece-length", "64KiB", "-log-level", "warn", "-tracker", tr.HTTPURL, data}, &out, &errOut, envOf(nil))
	}()
	var listen, status string
	require.Eventually(t, func() bool {
		s := out.String()
		if m := regexp.MustCompile(`(?m)^listening: (\S+)$`).FindStringSubmatch(s); m != nil {
			listen = m[1]
		}
		if m := regexp.MustCompile(`(?m)^status: (\S+)$`).FindStringSubmatch(s); m != nil {
			status = m[1]
		}
		return strings.Contains(s, "seeding\n")
	}, 20*time.Second, 10*time.Millisecond, "stdout: %s\nstderr: %s", &out, &errOut)
	assert.Contains(t, out.String(), "torrent: "+data+".torrent\n")
	assert.Contains(t, out.String(), "leecher: leecher -peer "+listen+" -budget 0 "+data+".torrent\n", "what a leecher needs")
	assert.Regexp(t, `(?m)^magnet: magnet:\?xt=urn:btih:[0-9a-f]{40}&dn=data.bin&tr=http%3A%2F%2F127.0.0.1%3A\d+%2Fannounce&x.pe=127.0.0.1%3A\d+$`, out.String())
	mi, err := metainfo.LoadFromFile(data + ".torrent")
	require.NoError(t, err)
	assert.Equal(t, tr.HTTPURL, mi.Announce, "the tracker is in the .torrent")
	require.Eventually(t, func() bool {
		for _, a := range tr.Announces() {
			if a.Addr.String() == listen {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the seeder announced itself")

	// A stock leecher (no btt_speed) gets the data through a free slot.
	cl, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	defer cl.Close()
	got := t.TempDir()
	tor, err := cl.AddTorrent(ctx, peer.TorrentSpec{TorrentFile: data + ".torrent", Dir: got, Peers: []netip.AddrPort{netip.MustParseAddrPort(listen)}})
	require.NoError(t, err)
	select {
	case <-tor.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the stock leecher did not complete")
	}
	want, _ := os.ReadFile(data)
	have, _ := os.ReadFile(filepath.Join(got, "data.bin"))
	assert.True(t, bytes.Equal(want, have))
	code, page := get(t, status)
	assert.Equal(t, 200, code)
	assert.Contains(t, page, `<tr class="torrent" data-infohash="`+mi.HashInfoBytes().HexString()+`">`)
	assert.Contains(t, page, "<h1>bttspeed seeder: data.bin</h1>")
	_, metrics := get(t, status+"metrics")
	// metrics.Collector's figures and the seeder's own (status_test.go
	// has the seeder's from a snapshot; metrics' tests the rest).
	for _, want := range []string{
		"bttspeed_uploaded_bytes_total 1.048576e+06", "bttspeed_torrents 1", "bttspeed_pieces_done 16",
		`bttspeed_torrent_uploaded_bytes_total{infohash="` + mi.HashInfoBytes().HexString() + `",name="data.bin"} 1.048576e+06`,
		"bttspeed_reserve_price_base_units_per_byte 9.31322574e+08", "bttspeed_earned_btt 0", "bttspeed_collect_timeouts_total 0",
		"bttspeed_seeder_up 1", `bttspeed_seeder_slots{kind="paid"} 4`, `bttspeed_seeder_channels{state="open"} 0`, "bttspeed_seeder_redemptions_total 0",
	} {
		assert.Contains(t, metrics, want+"\n")
	}

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, cli.ExitOK, code, "stderr: %s", &errOut)
	case <-time.After(30 * time.Second):
		t.Fatal("the seeder did not stop")
	}
	assert.Contains(t, out.String(), "redeemed: 0 base units")
	assert.True(t, strings.HasSuffix(out.String(), "stopped\n"), out.String())

	// Again on the same data: the .torrent written is kept.
	before, _ := os.ReadFile(data + ".torrent")
	ctx2, cancel2 := context.WithCancel(context.Background())
	var out2 syncBuffer
	go func() {
		done <- run(ctx2, []string{"-listen", "127.0.0.1:0", "-piece-length", "64KiB", "-log-level", "warn", data}, &out2, &errOut, envOf(nil))
	}()
	require.Eventually(t, func() bool { return strings.Contains(out2.String(), "seeding\n") }, 20*time.Second, 10*time.Millisecond)
	cancel2()
	assert.Equal(t, cli.ExitOK, <-done)
	after, _ := os.ReadFile(data + ".torrent")
	assert.Equal(t, before, after)
}

// TestParseCredit: the credit flags default to speed.Seller's defaults and
// take sizes.
func TestParseCredit(t *testing.T) {
	c, err := parse([]string{"data.bin"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, [3]int64{256 << 10, 256 << 20, paychan.DefaultCreditGrowth}, [3]int64{c.creditStart, c.creditMax, c.creditGrowth})
	c, err = parse([]string{"-credit-start", "1MiB", "-credit", "64MiB", "-credit-growth", "8", "data.bin"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, [3]int64{1 << 20, 64 << 20, 8}, [3]int64{c.creditStart, c.creditMax, c.creditGrowth})
}
