package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// swarm writes a torrent of three files, seeds it on 127.0.0.1 and returns
// the .torrent's path, the seeder's address and the files' data.
func swarm(t *testing.T) (string, string, [][]byte) {
	t.Helper()
	return swarmWith(t, peer.Config{ListenAddr: "127.0.0.1:0"})
}

// swarmWith is swarm with the seeder's configuration.
func swarmWith(t *testing.T, cfg peer.Config) (string, string, [][]byte) {
	t.Helper()
	src := t.TempDir()
	root := filepath.Join(src, "show")
	require.NoError(t, os.MkdirAll(root, 0o755))
	var data [][]byte
	for i, n := range []int{100<<10 + 3, 1<<20 + 7, 50 << 10} {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		data = append(data, b)
		require.NoError(t, os.WriteFile(filepath.Join(root, fmt.Sprintf("ep%d.bin", i)), b, 0o644))
	}
	info := metainfo.Info{PieceLength: 64 << 10}
	require.NoError(t, info.BuildFromFilePath(root))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	mi := metainfo.MetaInfo{InfoBytes: ib}
	path := filepath.Join(t.TempDir(), "show.torrent")
	fh, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, mi.Write(fh))
	require.NoError(t, fh.Close())
	seeder, err := peer.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { seeder.Close() })
	_, err = seeder.AddTorrent(context.Background(), peer.TorrentSpec{MetaInfo: &mi, Dir: src, Verify: true})
	require.NoError(t, err)
	return path, seeder.Addr().String(), data
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
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

func TestStreamToFile(t *testing.T) {
	torrent, seeder, data := swarm(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"as fast as it comes", nil},
		{"at a playback rate", []string{"-rate", "4MB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.bin")
			dir := t.TempDir()
			var stdout, stderr syncBuffer
			args := append([]string{"-dir", dir, "-out", out, "-peer", seeder, "-progress", "100ms", "-timeout", "1m", "-file", "show/ep1.bin"}, tc.args...)
			code := run(context.Background(), append(args, torrent), &stdout, &stderr, nil)
			require.Equal(t, cli.ExitOK, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			got, err := os.ReadFile(out)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data[1], got), "streamed bytes differ")
			assert.Contains(t, stdout.String(), "streaming show/ep1.bin (1048583 bytes)")
			assert.Regexp(t, `streamed: 1048583 bytes, \d+ stalls`, stdout.String())
			// Only the chosen file's pieces (and the two it shares) came.
			ep2, err := os.ReadFile(filepath.Join(dir, "show", "ep2.bin"))
			if err == nil {
				assert.Less(t, len(bytes.Trim(ep2, "\x00")), len(data[2]))
			}
		})
	}
}

// TestStreamPays: with a budget the player buys from a seller on the
// devnet (bidding.Deadline) and streams the file, printing what it spent;
// the seller holds vouchers for it.
func TestStreamPays(t *testing.T) {
	ctx := context.Background()
	node, err := devnet.Start(ctx, devnet.Config{Seed: "stream-pays", Accounts: 2, DeployContracts: true})
	require.NoError(t, err)
	defer node.Close()
	env := func(i int) chain.Env {
		key := hex.EncodeToString(crypto.FromECDSA(node.Keys()[i]))
		return func(k string) (string, bool) { return key, k == chain.EnvKey }
	}
	sellerChain, err := chain.Connect(ctx, chain.Flags{Node: node.Addr()}, env(0), 0, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer sellerChain.Close()
	seller, err := market.NewSeller(ctx, sellerChain, market.SellConfig{StateDir: t.TempDir(), Reserve: btt.NewAmount(500), Slots: 5, FreePercent: 20, Rotation: time.Second})
	require.NoError(t, err)
	defer seller.Close()
	torrent, seeder, data := swarmWith(t, peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 200 * time.Millisecond, Policy: seller.Policy, Extensions: []peer.Extension{seller.Ext}})

	out := filepath.Join(t.TempDir(), "out.bin")
	var stdout, stderr syncBuffer
	code := run(ctx, []string{"-dir", t.TempDir(), "-out", out, "-peer", seeder, "-file", "show/ep1.bin", "-progress", "100ms", "-timeout", "2m",
		"-budget", "0.5", "-chain", node.Addr(), "-state", t.TempDir(), "-log-level", "warn", torrent}, &stdout, &stderr, env(1))
	require.Equal(t, cli.ExitOK, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data[1], got), "streamed bytes differ")
	m := regexp.MustCompile(`streamed: 1048583 bytes, \d+ stalls, \S+, spent (\S+) BTT`).FindStringSubmatch(stdout.String())
	require.NotNil(t, m, stdout.String())
	assert.NotEqual(t, "0", m[1], "bought some of it")
	require.Eventually(t, func() bool {
		tot, err := seller.Payee.Totals()
		return err == nil && tot.Earned.Gt(btt.Zero)
	}, 10*time.Second, 50*time.Millisecond, "the seller holds vouchers")
}

func TestStreamHTTP(t *testing.T) {
	torrent, seeder, data := swarm(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-dir", t.TempDir(), "-peer", seeder, "-http", "127.0.0.1:0", "-file", "0", torrent}, &stdout, &stderr, nil)
	}()
	re := regexp.MustCompile(`at (http://[0-9.:]+/)`)
	var url string
	require.Eventually(t, func() bool {
		m := re.FindStringSubmatch(stdout.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, "stderr: %s", stderr.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, data[0][1000:2000], body)
	cancel()
	select {
	case c := <-code:
		assert.Equal(t, cli.ExitOK, c)
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
}

func TestStreamSetupErrors(t *testing.T) {
	torrent, seeder, _ := swarm(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "nothing to stream"},
		{[]string{"-rate", "fast", torrent}, "-rate"},
		{[]string{"-out", "x", "-http", ":0", torrent}, "not both"},
		{[]string{"/no/such.torrent"}, "torrent:"},
		{[]string{"-peer", seeder, "-file", "nope", "-dir", t.TempDir(), torrent}, `-file "nope": no such file`},
	} {
		var stdout, stderr syncBuffer
		code := run(context.Background(), tc.args, &stdout, &stderr, nil)
		assert.Equal(t, cli.ExitSetup, code, "%v", tc.args)
		assert.True(t, strings.Contains(stderr.String(), tc.want), "%v: %s", tc.args, stderr.String())
	}
}
