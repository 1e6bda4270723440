package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
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
	"github.com/bttspeed/bttspeed/examples/internal/chain/devbttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/examples/internal/market"
	"github.com/bttspeed/bttspeed/internal/leaktest"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery/discoverytest"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m, devbttc.LeakOptions...) }

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

func keyHex(node *devnet.Node, i int) string {
	return hex.EncodeToString(crypto.FromECDSA(node.Keys()[i]))
}

// fixture writes size random bytes and their .torrent; it returns the data
// directory and the .torrent's path.
func fixture(t *testing.T, size int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	p := filepath.Join(dir, "data.bin")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	info := metainfo.Info{PieceLength: 64 << 10}
	require.NoError(t, info.BuildFromFilePath(p))
	ib, err := bencode.Marshal(info)
	require.NoError(t, err)
	tf := filepath.Join(t.TempDir(), "data.torrent")
	f, err := os.Create(tf)
	require.NoError(t, err)
	require.NoError(t, (&metainfo.MetaInfo{InfoBytes: ib}).Write(f))
	require.NoError(t, f.Close())
	return dir, tf
}

// TestRunRefuses: bad flags, missing files, an unreachable node and an
// empty wallet stop the leecher with exit code 2 and say why.
func TestRunRefuses(t *testing.T) {
	node, err := devnet.Start(context.Background(), devnet.Config{Seed: "leecher-flags", Accounts: 1, DeployContracts: true})
	require.NoError(t, err)
	defer node.Close()
	poor, err := crypto.GenerateKey()
	require.NoError(t, err)
	poorHex := hex.EncodeToString(crypto.FromECDSA(poor))
	require.NoError(t, node.FundTRX(paychan.AddressOf(&poor.PublicKey), 100*devnet.SunPerTRX))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()
	_, lonely := fixture(t, 100_000)
	tf := withTracker(t, lonely, "udp://127.0.0.1:1/announce")
	state := t.TempDir()
	base := []string{"-listen", "127.0.0.1:0", "-log-level", "error"}
	nodes := withNodes(t, lonely, "127.0.0.1:6881")

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		has  string
	}{
		{"nothing", nil, nil, "nothing to download"},
		{"both", []string{"-torrent", tf, "-magnet", "magnet:?xt=urn:btih:0000000000000000000000000000000000000000"}, nil, "not both"},
		{"missing torrent", []string{"-torrent", tf + ".nope"}, nil, "no such file"},
		{"not a torrent", []string{"-torrent", os.Args[0], "-dir", t.TempDir()}, nil, "reading the torrent"},
		{"not a torrent, as the argument", []string{"-dir", t.TempDir(), os.Args[0]}, nil, "reading the torrent"},
		{"bad magnet", []string{"-magnet", "http://x"}, nil, "want a magnet:? link"},
		{"magnet without btih", []string{"-magnet", "magnet:?dn=x", "-dir", t.TempDir()}, nil, "-magnet"},
		{"extra args", []string{tf, "more"}, nil, "unexpected arguments"},
		{"argument and -torrent", []string{"-torrent", tf, tf}, nil, "give the torrent once"},
		{"no way to find a peer", []string{lonely}, nil, "no way to find a peer: " + lonely + " names no tracker and no peer, -dht is off, and no -peer or -tracker was given"},
		{"no way to find a peer, magnet", []string{"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"}, nil, "no way to find a peer: the magnet link names no tracker"},
		{"DHT nodes without -dht", []string{nodes}, nil, "it names 1 DHT nodes: add -dht to use them"},
		{"unknown flag", []string{"-torrent", tf, "-turbo"}, nil, "flag provided but not defined: -turbo"},
		{"bad encryption", []string{"-encryption", "rc4", tf}, nil, `invalid value "rc4" for flag -encryption: "rc4": want prefer-plain, prefer, require or never`},
		{"bad protocols", []string{"-protocols", "udp", tf}, nil, `invalid value "udp" for flag -protocols: "udp": want tcp, utp or tcp,utp`},
		{"key flag", []string{"-torrent", tf, "-key=" + poorHex}, nil, "never taken on the command line"},
		{"bad budget", []string{"-torrent", tf, "-budget", "lots"}, nil, "-budget \"lots\""},
		{"deposit over budget", []string{"-torrent", tf, "-budget", "1", "-deposit", "2"}, nil, "-deposit 2"},
		{"short lifetime", []string{"-torrent", tf, "-lifetime", "10m"}, nil, "-lifetime"},
		{"bad strategy", []string{"-torrent", tf, "-strategy", "greedy"}, nil, "-strategy \"greedy\""},
		{"fixed without price", []string{"-torrent", tf, "-strategy", "fixed"}, nil, "needs -price"},
		{"paced without deadline", []string{"-torrent", tf, "-strategy", "paced"}, nil, "needs -deadline"},
		{"bad progress", []string{"-torrent", tf, "-progress", "0s"}, nil, "-progress"},
		{"bad tracker", []string{"-torrent", tf, "-tracker", "announce"}, nil, "-tracker"},
		{"bad listen", []string{"-torrent", tf, "-listen", "here"}, nil, "-listen"},
		{"bad log level", []string{"-torrent", tf, "-log-level", "chatty"}, nil, "-log-level"},
		{"chain without state", []string{"-torrent", tf, "-budget", "1", "-chain", node.Addr()}, nil, "needs -state"},
		{"unreachable node", []string{"-torrent", tf, "-budget", "1", "-chain", closed, "-state", state}, map[string]string{chain.EnvKey: poorHex}, "cannot reach the TRON node at " + closed},
		{"no key", []string{"-torrent", tf, "-budget", "1", "-chain", node.Addr(), "-state", state}, nil, "no key"},
		{"no tokens", []string{"-torrent", tf, "-budget", "1", "-chain", node.Addr(), "-state", state}, map[string]string{chain.EnvKey: poorHex}, "holds 0 BTT of token " + node.Token().String() + "; it needs 1 BTT for the budget (-budget 1)"},
		{"reclaim without chain", []string{"-reclaim", "-state", state}, nil, "reclaim needs -chain"},
		{"reclaim without state", []string{"reclaim", "-chain", node.Addr()}, nil, "reclaim needs -state"},
		{"reclaim with torrent", []string{"reclaim", "-chain", node.Addr(), "-state", state, "-torrent", tf}, nil, "reclaim takes no -torrent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut syncBuffer
			args := append(append([]string{}, base...), tc.args...)
			if len(tc.args) > 0 && tc.args[0] == "reclaim" {
				args = append(append([]string{"reclaim"}, base...), tc.args[1:]...)
			}
			code := run(context.Background(), args, &out, &errOut, envOf(tc.env))
			assert.Equal(t, cli.ExitSetup, code, "stderr: %s", errOut.String())
			assert.Contains(t, errOut.String(), "leecher: ")
			assert.Contains(t, errOut.String(), tc.has)
			assert.NotContains(t, errOut.String()+out.String(), poorHex[10:40], "the key never shows")
		})
	}
	var version syncBuffer
	assert.Equal(t, cli.ExitOK, run(context.Background(), []string{"-version"}, &version, &syncBuffer{}, envOf(nil)))
	assert.Regexp(t, `^leecher \S+ \S+.* go1\.\d+`, version.String())
	var help syncBuffer
	assert.Equal(t, cli.ExitOK, run(context.Background(), []string{"-h"}, &syncBuffer{}, &help, envOf(nil)))
	assert.Contains(t, help.String(), "usage: leecher")
	assert.Contains(t, help.String(), "-budget")
}

// TestRunPays: the leecher run in process buys from a seller on the
// devnet, exits 0 with the data verified and what it spent — what the
// seller's store holds — and reclaims the rest after expiry.
func TestRunPays(t *testing.T) {
	ctx := context.Background()
	node, err := devnet.Start(ctx, devnet.Config{Seed: "leecher-pays", Accounts: 2, DeployContracts: true})
	require.NoError(t, err)
	defer node.Close()
	sellerChain, err := chain.Connect(ctx, chain.Flags{Node: node.Addr()}, envOf(map[string]string{chain.EnvKey: keyHex(node, 0)}), 0, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer sellerChain.Close()
	seller, err := market.NewSeller(ctx, sellerChain, market.SellConfig{StateDir: t.TempDir(), Reserve: btt.NewAmount(500), Slots: 5, FreePercent: 20, Rotation: time.Second})
	require.NoError(t, err)
	defer seller.Close()
	dataDir, tf := fixture(t, 2<<20)
	seed, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", RechokeInterval: 200 * time.Millisecond, Policy: seller.Policy, Extensions: []peer.Extension{seller.Ext}})
	require.NoError(t, err)
	defer seed.Close()
	_, err = seed.AddTorrent(ctx, peer.TorrentSpec{TorrentFile: tf, Dir: dataDir, Verify: true})
	require.NoError(t, err)

	state, dl := t.TempDir(), t.TempDir()
	env := envOf(map[string]string{chain.EnvKey: keyHex(node, 1)})
	leecherBefore := node.TokenBalance(node.Accounts()[1])
	var out, errOut syncBuffer
	code := run(ctx, []string{"-torrent", tf, "-dir", dl, "-budget", "0.5", "-strategy", "fixed", "-price", "800", "-chain", node.Addr(), "-state", state,
		"-peer", seed.Addr().String(), "-listen", "127.0.0.1:0", "-progress", "50ms", "-log-level", "warn"}, &out, &errOut, env)
	require.Equal(t, cli.ExitOK, code, "stdout: %s\nstderr: %s", &out, &errOut)
	want, _ := os.ReadFile(filepath.Join(dataDir, "data.bin"))
	got, _ := os.ReadFile(filepath.Join(dl, "data.bin"))
	assert.True(t, bytes.Equal(want, got), "the data is the seeder's")
	o := out.String()
	assert.Contains(t, o, "complete: data.bin, 2.0 MiB in ")
	assert.Contains(t, o, "progress: ")
	m := regexp.MustCompile(`(?m)^spent: (\d+) base units \(\S+ BTT\) of a budget of 0.5 BTT$`).FindStringSubmatch(o)
	require.NotNil(t, m, o)
	spent, err := btt.ParseAmount(m[1])
	require.NoError(t, err)
	assert.True(t, spent.Gt(btt.Zero))
	assert.False(t, spent.Gt(btt.NewAmount(500*(2<<20))), "never more than the clearing price (the reserve) for every byte")
	require.Regexp(t, `(?m)^channel: [0-9a-f]{64} payee `+sellerChain.Account().String()+` deposit 0.5 BTT signed `+m[1]+` base units expires `, o)
	assert.Contains(t, o, "leecher reclaim -chain "+node.Addr()+" -state "+state)
	tot, err := seller.Payee.Totals()
	require.NoError(t, err)
	assert.Equal(t, spent, tot.Earned, "the seller holds every voucher the leecher signed before it exited")

	// Reclaim: nothing before expiry; the rest of the deposit after.
	out = syncBuffer{}
	code = run(ctx, []string{"reclaim", "-chain", node.Addr(), "-state", state, "-log-level", "warn"}, &out, &errOut, env)
	require.Equal(t, cli.ExitOK, code, "stderr: %s", &errOut)
	assert.Contains(t, out.String(), "not expired: reclaimable after")
	assert.Contains(t, out.String(), "reclaimed: 0 base units (0 BTT) from 0 channels; 1 not expired yet")

	res, err := seller.RedeemOnShutdown(ctx)
	require.NoError(t, err)
	assert.Equal(t, spent, res.Redeemed)
	node.Advance(25 * time.Hour)
	out = syncBuffer{}
	code = run(ctx, []string{"-reclaim", "-chain", node.Addr(), "-state", state}, &out, &errOut, env)
	require.Equal(t, cli.ExitOK, code, "stderr: %s", &errOut)
	back, _ := btt.NewAmount(500_000_000_000_000_000).Sub(spent)
	assert.Contains(t, out.String(), "reclaimed: "+back.String()+" base units ("+back.FormatBTT()+" BTT) from 1 channels")
	final, _ := leecherBefore.Sub(spent)
	assert.Equal(t, final, node.TokenBalance(node.Accounts()[1]), "the leecher lost exactly what it spent")
}

// TestRunFree: with no budget the leecher needs no chain and downloads
// from a seeder through its free slots; interrupted, it exits 1.
func TestRunFree(t *testing.T) {
	ctx := context.Background()
	dataDir, tf := fixture(t, 1<<20)
	seed, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	defer seed.Close()
	_, err = seed.AddTorrent(ctx, peer.TorrentSpec{TorrentFile: tf, Dir: dataDir, Verify: true})
	require.NoError(t, err)
	mi, err := metainfo.LoadFromFile(tf)
	require.NoError(t, err)
	magnet := "magnet:?xt=urn:btih:" + mi.HashInfoBytes().HexString() + "&x.pe=" + seed.Addr().String()

	var out, errOut syncBuffer
	code := run(ctx, []string{"-magnet", magnet, "-dir", t.TempDir(), "-listen", "127.0.0.1:0"}, &out, &errOut, envOf(nil))
	require.Equal(t, cli.ExitOK, code, "stderr: %s", &errOut)
	assert.Contains(t, out.String(), "complete: data.bin, 1.0 MiB")
	assert.Contains(t, out.String(), "spent: 0 base units (0 BTT): no budget")
	assert.Contains(t, out.String(), "finding peers through: the magnet link's peers (x.pe) (1)\n")

	// The same, with the .torrent as the argument and the seeder's address.
	out, errOut = syncBuffer{}, syncBuffer{}
	code = run(ctx, []string{"-dir", t.TempDir(), "-listen", "127.0.0.1:0", "-peer", seed.Addr().String(), tf}, &out, &errOut, envOf(nil))
	require.Equal(t, cli.ExitOK, code, "stderr: %s", &errOut)
	assert.Contains(t, out.String(), "finding peers through: -peer (1)\n")
	assert.Contains(t, out.String(), "complete: data.bin, 1.0 MiB")

	// A peer that is not there: interrupted, it says how far it got.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gone := ln.Addr().String()
	ln.Close()
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	out, errOut = syncBuffer{}, syncBuffer{}
	code = run(cctx, []string{"-torrent", tf, "-dir", t.TempDir(), "-listen", "127.0.0.1:0", "-peer", gone}, &out, &errOut, envOf(nil))
	assert.Equal(t, cli.ExitFailure, code)
	assert.Contains(t, errOut.String(), "interrupted with 0 of 16 pieces")
	code = run(ctx, []string{"-torrent", tf, "-dir", t.TempDir(), "-listen", "127.0.0.1:0", "-peer", gone, "-timeout", "200ms"}, &out, &errOut, envOf(nil))
	assert.Equal(t, cli.ExitFailure, code)
	assert.Contains(t, errOut.String(), "gave up after -timeout 200ms")
}

// withTracker writes a copy of the .torrent tf naming tracker.
func withTracker(t *testing.T, tf, tracker string) string {
	t.Helper()
	mi, err := metainfo.LoadFromFile(tf)
	require.NoError(t, err)
	mi.Announce = tracker
	return writeTorrent(t, mi)
}

// withNodes writes a copy of the .torrent tf naming DHT nodes (BEP 5).
func withNodes(t *testing.T, tf string, nodes ...string) string {
	t.Helper()
	mi, err := metainfo.LoadFromFile(tf)
	require.NoError(t, err)
	for _, n := range nodes {
		mi.Nodes = append(mi.Nodes, metainfo.Node(n))
	}
	return writeTorrent(t, mi)
}

func writeTorrent(t *testing.T, mi *metainfo.MetaInfo) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "copy.torrent")
	f, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, mi.Write(f))
	require.NoError(t, f.Close())
	return p
}

func TestProgressLine(t *testing.T) {
	assert.Equal(t, "fetching the torrent's metadata from 2 peers", progressLine(peer.Stats{Peers: 2}, btt.Zero))
	half, _ := btt.ParseBTT("0.5")
	st := peer.Stats{Pieces: 16, PiecesDone: 4, Length: 1 << 20, Left: 3 << 18, DownRate: 2 << 20, UpRate: 0, Peers: 3}
	assert.Equal(t, "progress:  25.0% 256.0 KiB of 1.0 MiB, 4/16 pieces, down 2.0 MiB/s, up 0 B/s, peers 3, spent 0.5 BTT", progressLine(st, half))
	assert.Equal(t, "#####---------------", bar(st, 20))
	var b strings.Builder
	p := newProgress(&b)
	p.update(st, half)
	p.end()
	assert.Equal(t, progressLine(st, half)+"\n", b.String(), "not a terminal: plain lines")
}

// TestRunDiscovers: with no -peer, the leecher finds the seeder through a
// tracker (-tracker) or the DHT (-dht with -dht-bootstrap), on loopback.
func TestRunDiscovers(t *testing.T) {
	ctx := context.Background()
	dataDir, tf := fixture(t, 256<<10)
	tr := discoverytest.StartTracker(t, time.Second)
	nodes := discoverytest.StartDHT(t, 2, time.Second)
	seed, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", DHT: nodes[0]})
	require.NoError(t, err)
	defer seed.Close()
	_, err = seed.AddTorrent(ctx, peer.TorrentSpec{TorrentFile: tf, Dir: dataDir, Verify: true, Trackers: []string{tr.HTTPURL}})
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		args    []string
		finding string
	}{
		{"tracker", []string{"-tracker", tr.UDPURL}, "-tracker (1)"},
		{"dht", []string{"-dht", "-dht-bootstrap", nodes[1].Addr().String()}, "the DHT only: waiting on it for peers (no tracker or peer given)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut syncBuffer
			args := append(append([]string{"-dir", t.TempDir(), "-listen", "127.0.0.1:0", "-timeout", "30s"}, tc.args...), tf)
			require.Equal(t, cli.ExitOK, run(ctx, args, &out, &errOut, envOf(nil)), "stderr: %s", &errOut)
			assert.Contains(t, out.String(), "complete: data.bin, 256.0 KiB")
			assert.Contains(t, out.String(), "finding peers through: "+tc.finding+"\n")
		})
	}
	var fromLeecher bool
	for _, a := range tr.Announces() {
		fromLeecher = fromLeecher || a.UDP
	}
	assert.True(t, fromLeecher, "the leecher announced to the tracker over UDP")
}
