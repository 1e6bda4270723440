package main

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery/discoverytest"
)

// TestRunEncryptionRequired: the seeder with -encryption require and
// -protocols tcp,utp (and its DHT node, on the uTP socket of the -listen
// port) refuses a plaintext peer, and the leecher
// command, built from this tree, with -encryption require over uTP alone
// downloads the file from it, byte-identical, on loopback.
func TestRunEncryptionRequired(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the leecher")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the leecher with")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	bin := t.TempDir()
	build := exec.Command(goTool, "build", "-o", bin+string(filepath.Separator), "./examples/leecher")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	dir := t.TempDir()
	data := dataFile(t, dir, 1<<20)
	listen := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A live DHT node to join through: its queries end when answered (one
	// to a dead address would outlive the seeder, retried by anacrolix/dht
	// whatever its context).
	boot := discoverytest.StartDHT(t, 1, time.Second)[0].Addr().String()
	var sout, serr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", listen, "-encryption", "require", "-protocols", "tcp,utp", "-dht", "-dht-bootstrap", boot,
			"-rechoke", "200ms", "-piece-length", "64KiB", "-log-level", "warn", data}, &sout, &serr, envOf(nil))
	}()
	require.Eventually(t, func() bool { return strings.Contains(sout.String(), "seeding\n") }, 30*time.Second, 10*time.Millisecond, "stdout: %s\nstderr: %s", &sout, &serr)
	assert.Contains(t, sout.String(), "listening: "+listen+"\n")
	mi, err := metainfo.LoadFromFile(data + ".torrent")
	require.NoError(t, err)
	assert.Equal(t, []metainfo.Node{metainfo.Node(listen)}, mi.Nodes, "the DHT node is on the client's port, beside TCP and uTP")

	// A plaintext-only client gets nothing: the seeder refuses it.
	plain, err := peer.NewClient(peer.Config{ListenAddr: "127.0.0.1:0", Encryption: peer.EncryptionNever})
	require.NoError(t, err)
	defer plain.Close()
	pt, err := plain.AddTorrent(ctx, peer.TorrentSpec{TorrentFile: data + ".torrent", Dir: t.TempDir(), Peers: []netip.AddrPort{netip.MustParseAddrPort(listen)}})
	require.NoError(t, err)

	// The leecher command, encrypted, over uTP only.
	got := t.TempDir()
	var lout, lerr syncBuffer
	lctx, lcancel := context.WithTimeout(ctx, 60*time.Second)
	defer lcancel()
	leecher := exec.CommandContext(lctx, filepath.Join(bin, "leecher"), "-encryption", "require", "-protocols", "utp", "-listen", "127.0.0.1:0",
		"-peer", listen, "-budget", "0", "-dir", got, "-log-level", "warn", data+".torrent")
	leecher.Stdout, leecher.Stderr = &lout, &lerr
	leecher.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	require.NoError(t, leecher.Run(), "leecher stdout:\n%s\nstderr:\n%s\nseeder stderr:\n%s", &lout, &lerr, &serr)
	want, _ := os.ReadFile(data)
	have, err := os.ReadFile(filepath.Join(got, "data.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, have), "the download is the seeder's file")

	st, err := pt.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, st.PiecesDone, "the plaintext client got nothing")
	assert.Equal(t, 0, st.Peers)

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, cli.ExitOK, code, "stderr: %s", &serr)
	case <-time.After(30 * time.Second):
		t.Fatal("the seeder did not stop")
	}
	assert.NotRegexp(t, regexp.MustCompile(`address already in use`), serr.String())
}

// TestLeecherHintProtocols: a seeder on uTP alone tells the leecher to
// dial uTP (it dials TCP alone by default); the encryption needs no word
// (a leecher's default, prefer-plain, falls back to MSE with RC4, which a
// seeder that requires it accepts).
func TestLeecherHintProtocols(t *testing.T) {
	addr := netip.MustParseAddrPort("127.0.0.1:6881")
	for args, want := range map[string]string{
		"":                                   "leecher -peer 127.0.0.1:6881 -budget 0",
		"-protocols utp":                     "leecher -peer 127.0.0.1:6881 -protocols utp -budget 0",
		"-protocols tcp,utp":                 "leecher -peer 127.0.0.1:6881 -budget 0",
		"-encryption require -protocols tcp": "leecher -peer 127.0.0.1:6881 -budget 0",
	} {
		c, err := parse(append(strings.Fields(args), "data.bin"), io.Discard)
		require.NoError(t, err, args)
		assert.Equal(t, want, leecherHint(c, nil, addr), args)
	}
}

// TestNetFlagsConfig: -encryption and -protocols are config-file keys of
// the seeder; the command line overrides the file.
func TestNetFlagsConfig(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "seeder.conf")
	require.NoError(t, os.WriteFile(conf, []byte("encryption = require\nprotocols = tcp,utp\nseed = data.bin\n"), 0o600))
	c, err := parse([]string{"-config", conf}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, cli.NetFlags{Encryption: peer.EncryptionRequire, Protocols: peer.ProtocolTCP | peer.ProtocolUTP}, c.net)
	c, err = parse([]string{"-config", conf, "-protocols", "utp"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, cli.NetFlags{Encryption: peer.EncryptionRequire, Protocols: peer.ProtocolUTP}, c.net)

	require.NoError(t, os.WriteFile(conf, []byte("encryption = rc4\n"), 0o600))
	_, err = parse([]string{"-config", conf, "data.bin"}, io.Discard)
	require.Error(t, err)
	assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
	assert.ErrorContains(t, err, "seeder.conf:1: encryption = rc4")
}
