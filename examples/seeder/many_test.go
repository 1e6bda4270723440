package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// running is a seeder run in process.
type running struct {
	out, err syncBuffer
	cancel   context.CancelFunc
	done     chan int
}

func startSeeder(t *testing.T, env chain.Env, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan int, 1)}
	go func() { r.done <- run(ctx, args, &r.out, &r.err, env) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("the seeder did not stop")
		}
	})
	return r
}

// line waits for a stdout line matching re and returns its submatches.
func (r *running) line(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(`(?m)^` + re + `$`)
	var m []string
	require.Eventually(t, func() bool {
		m = rx.FindStringSubmatch(r.out.String())
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, "no line %q; stdout:\n%s\nstderr:\n%s", re, &r.out, &r.err)
	return m
}

func (r *running) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("the seeder did not stop")
		return -1
	}
}

func statusOf(t *testing.T, base string) Snapshot {
	t.Helper()
	_, body := get(t, base+"status.json")
	var s Snapshot
	require.NoError(t, json.Unmarshal([]byte(body), &s), body)
	return s
}

// TestRunMany: files, a folder and a .torrent in one process, one payee;
// the same data given twice is seeded once; each torrent has its row on
// the status page and its series in the metrics.
func TestRunMany(t *testing.T) {
	dir := t.TempDir()
	a := dataFile(t, dir, 300_000)
	folder := filepath.Join(dir, "album")
	require.NoError(t, os.MkdirAll(folder, 0o755))
	dataFile(t, folder, 200_000)
	other := t.TempDir()
	b := filepath.Join(other, "b.bin")
	require.NoError(t, os.WriteFile(b, []byte(strings.Repeat("b", 100_000)), 0o644))
	// b's .torrent, made by a first run, seeded by the second from its file.
	r0 := startSeeder(t, envOf(nil), "-listen", "127.0.0.1:0", "-log-level", "warn", "-piece-length", "16KiB", b)
	r0.line(t, "seeding")
	assert.Equal(t, cli.ExitOK, r0.stop(t))

	r := startSeeder(t, envOf(nil), "-listen", "127.0.0.1:0", "-http", "127.0.0.1:0", "-log-level", "warn", "-piece-length", "16KiB",
		"-torrent-dir", filepath.Join(dir, "torrents"), a, folder, b+".torrent", a)
	status := r.line(t, `status: (\S+)`)[1]
	r.line(t, "seeding")
	out := r.out.String()
	assert.Len(t, regexp.MustCompile(`(?m)^infohash: [0-9a-f]{40}$`).FindAllString(out, -1), 3, out)
	assert.Contains(t, out, "torrent: "+filepath.Join(dir, "torrents", "data.bin.torrent")+"\n")
	assert.Contains(t, out, "torrent: "+filepath.Join(dir, "torrents", "album.torrent")+"\n")
	assert.Contains(t, out, "torrent: "+b+".torrent\n")
	assert.Contains(t, r.err.String(), "given twice: seeding it once")
	assert.Contains(t, out, "reserve: 931322574 base/B (0.999999999339134976 BTT/GiB), 4 paid and 1 free slots per torrent\n")

	s := statusOf(t, status)
	require.Len(t, s.Torrents, 3)
	names := []string{s.Torrents[0].Name, s.Torrents[1].Name, s.Torrents[2].Name}
	assert.Equal(t, []string{"album", "b.bin", "data.bin"}, names)
	for _, tr := range s.Torrents {
		assert.Equal(t, tr.Pieces, tr.PiecesDone, tr.Name)
		assert.Regexp(t, `^magnet:\?xt=urn:btih:`+tr.InfoHash, tr.Magnet)
	}
	_, metrics := get(t, status+"metrics")
	assert.Contains(t, metrics, "bttspeed_torrents 3")
	assert.Contains(t, metrics, `bttspeed_torrent_pieces_done{infohash="`+s.Torrents[1].InfoHash+`",name="b.bin"} 7`)
	_, hist := get(t, status+"history.json")
	assert.Contains(t, hist, `"reserve": "931322574"`)
	assert.Equal(t, cli.ExitOK, r.stop(t), r.err.String())
	assert.True(t, strings.HasSuffix(r.out.String(), "stopped\n"))
}

// TestRunWatch: a watched directory's files are seeded once settled, a
// changed file is seeded again, a removed one dropped; the .torrent
// files go to the state directory, not the watched one.
func TestRunWatch(t *testing.T) {
	watched, state := t.TempDir(), t.TempDir()
	old := dataFile(t, watched, 100_000)
	past := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(old, past, past))
	r := startSeeder(t, envOf(nil), "-listen", "127.0.0.1:0", "-http", "127.0.0.1:0", "-log-level", "warn", "-piece-length", "16KiB",
		"-watch", watched, "-watch-every", "100ms", "-torrent-dir", state)
	status := r.line(t, `status: (\S+)`)[1]
	first := r.line(t, `added: ([0-9a-f]{40}) (\S+) data.bin`)
	assert.Equal(t, filepath.Join(state, "data.bin.torrent"), first[2])
	r.line(t, "seeding")
	assert.Less(t, strings.Index(r.out.String(), "added: "), strings.Index(r.out.String(), "seeding\n"), "what was there is seeded before \"seeding\"")

	// A new file, then a folder; a hidden file and a partial download are
	// left alone.
	require.NoError(t, os.WriteFile(filepath.Join(watched, "new.bin"), []byte(strings.Repeat("n", 50_000)), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(watched, ".hidden"), []byte("h"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(watched, "film.mkv.part"), []byte("p"), 0o644))
	added := r.line(t, `added: ([0-9a-f]{40}) \S+ new.bin`)
	require.Eventually(t, func() bool { return len(statusOf(t, status).Torrents) == 2 }, 10*time.Second, 50*time.Millisecond)
	entries, err := os.ReadDir(watched)
	require.NoError(t, err)
	assert.Len(t, entries, 4, "nothing written into the watched directory")

	// Changed: dropped and seeded again as another torrent.
	require.NoError(t, os.WriteFile(filepath.Join(watched, "new.bin"), []byte(strings.Repeat("m", 60_000)), 0o644))
	r.line(t, `dropped: `+added[1]+` \S+ \(changed\)`)
	rx := regexp.MustCompile(`(?m)^added: ([0-9a-f]{40}) \S+ new.bin$`)
	var again string
	require.Eventually(t, func() bool {
		all := rx.FindAllStringSubmatch(r.out.String(), -1)
		if len(all) == 2 {
			again = all[1][1]
		}
		return again != ""
	}, 30*time.Second, 10*time.Millisecond, "stdout:\n%s", &r.out)
	assert.NotEqual(t, added[1], again)

	// Removed: dropped.
	require.NoError(t, os.Remove(filepath.Join(watched, "new.bin")))
	r.line(t, `dropped: `+again+` \S+ \(removed\)`)

	// A .torrent of its own beside the data (another piece length, so
	// another torrent): the .torrent is seeded, the data's own dropped.
	mi := metainfo.Info{PieceLength: 32 << 10}
	require.NoError(t, mi.BuildFromFilePath(old))
	ib, err := bencode.Marshal(mi)
	require.NoError(t, err)
	theirs := &metainfo.MetaInfo{InfoBytes: ib}
	f, err := os.Create(old + ".torrent")
	require.NoError(t, err)
	require.NoError(t, theirs.Write(f))
	require.NoError(t, f.Close())
	r.line(t, `dropped: `+first[1]+` \S+ \(its .torrent came\)`)
	r.line(t, `added: `+theirs.HashInfoBytes().HexString()+` `+regexp.QuoteMeta(old)+`.torrent data.bin`)
	require.Eventually(t, func() bool {
		s := statusOf(t, status)
		return len(s.Torrents) == 1 && s.Torrents[0].InfoHash == theirs.HashInfoBytes().HexString() && s.Torrents[0].Watched
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, cli.ExitOK, r.stop(t), r.err.String())
}

// TestSkipName: the watcher leaves hidden and partial files alone.
func TestSkipName(t *testing.T) {
	for name, skip := range map[string]bool{
		"movie.mkv": false, "album": false, "a.torrent": false, ".hidden": true, "x.part": true, "x.crdownload": true, "x~": true, "x.tmp": true,
	} {
		assert.Equal(t, skip, skipName(name), name)
	}
}

// TestConfigFile: settings come from the file, flags override them,
// "seed" lines name what to seed, and keys are refused.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "seeder.conf")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	conf := write(`# the operator's settings
reserve = 2/GiB
tracker = udp://127.0.0.1:6969/announce
tracker = http://127.0.0.1:8000/announce   # two of them
verify = false
seed = /srv/a.mkv
seed = /srv/b.mkv
`)
	c, err := parse([]string{"-config", conf}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "1862645149", c.reserve.String())
	assert.Equal(t, cli.StringList{"udp://127.0.0.1:6969/announce", "http://127.0.0.1:8000/announce"}, c.trackers)
	assert.False(t, c.verify)
	assert.Equal(t, []string{"/srv/a.mkv", "/srv/b.mkv"}, c.paths)

	c, err = parse([]string{"-config", conf, "-reserve", "1000", "-tracker", "udp://127.0.0.1:1/announce", "/srv/c.mkv"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "1000", c.reserve.String(), "a flag overrides the file")
	assert.Equal(t, cli.StringList{"udp://127.0.0.1:1/announce"}, c.trackers, "a list flag given replaces the file's")
	assert.Equal(t, []string{"/srv/c.mkv"}, c.paths, "arguments replace the seed lines")

	for _, tc := range []struct{ body, has string }{
		{"key = 0123", "keys and passphrases never go in a config file"},
		{"passphrase = hunter2", "keys and passphrases never go in a config file"},
		{"escrow = " + strings.Repeat("ab", 32), "looks like a private key"},
		{"turbo = yes", `unknown setting "turbo"`},
		{"reserve 1/GiB", "want name = value"},
		{"reserve = cheap", `-reserve "cheap"`},
		{"slots = many", `seeder.conf:1: slots = many`},
		{"config = other.conf", "cannot name another"},
	} {
		_, err := parse([]string{"-config", write(tc.body), "x"}, io.Discard)
		require.Error(t, err, tc.body)
		assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
		assert.ErrorContains(t, err, tc.has)
		assert.NotContains(t, err.Error(), "hunter2")
	}
}

// TestVersion: -version prints the build and exits 0.
func TestVersion(t *testing.T) {
	var out syncBuffer
	assert.Equal(t, cli.ExitOK, run(context.Background(), []string{"-version"}, &out, io.Discard, envOf(nil)))
	assert.Regexp(t, `^seeder \S+ \S+.* go1\.\d+`, out.String())
	_, err := parse([]string{"-version"}, io.Discard)
	assert.ErrorIs(t, err, cli.ErrVersion)
	assert.NotErrorIs(t, err, flag.ErrHelp)
}

// TestCheck: -check reaches the chain, shows the wallet and exits 0, or
// 2 with what is missing.
func TestCheck(t *testing.T) {
	node, err := devnet.Start(context.Background(), devnet.Config{Seed: "seeder-check", Accounts: 1, DeployContracts: true})
	require.NoError(t, err)
	defer node.Close()
	rich := envOf(map[string]string{chain.EnvKey: hexKey(node, 0)})
	var out, errOut syncBuffer
	code := run(context.Background(), []string{"-check", "-chain", node.Addr(), "-state", t.TempDir(), "-log-level", "error"}, &out, &errOut, rich)
	require.Equal(t, cli.ExitOK, code, "stderr: %s", &errOut)
	o := out.String()
	assert.Contains(t, o, "chain: "+node.Addr()+"\n")
	assert.Contains(t, o, "escrow: "+node.Escrow().String()+"\n")
	assert.Contains(t, o, "account: "+node.Accounts()[0].String()+"\n")
	assert.Regexp(t, `(?m)^trx: \d+\.\d{6} TRX`, o)
	assert.Regexp(t, `(?m)^btt: \S+ BTT \(token `+node.Token().String()+`\)$`, o)
	assert.Contains(t, o, "ok: ready to seed\n")

	// A missing file, and an empty wallet.
	out, errOut = syncBuffer{}, syncBuffer{}
	code = run(context.Background(), []string{"-check", "-chain", node.Addr(), filepath.Join(t.TempDir(), "nope")}, &out, &errOut, rich)
	assert.Equal(t, cli.ExitSetup, code)
	assert.Contains(t, errOut.String(), "nothing to seed at")
	poor := envOf(map[string]string{chain.EnvKey: strings.Repeat("1", 64)})
	out, errOut = syncBuffer{}, syncBuffer{}
	code = run(context.Background(), []string{"-check", "-chain", node.Addr(), "-log-level", "error"}, &out, &errOut, poor)
	assert.Equal(t, cli.ExitSetup, code, "stdout: %s", &out)
	assert.Contains(t, out.String(), "trx: 0.000000 TRX")
	assert.Contains(t, errOut.String(), "empty wallet")
}

func hexKey(node *devnet.Node, i int) string {
	return hex.EncodeToString(crypto.FromECDSA(node.Keys()[i]))
}

// TestMadeTorrentHints: a .torrent made names the trackers, web seeds
// and DHT node given.
func TestMadeTorrentHints(t *testing.T) {
	dir := t.TempDir()
	data := dataFile(t, dir, 50_000)
	mk := &maker{trackers: []string{"udp://127.0.0.1:1/announce", "http://127.0.0.1:2/announce"}, webSeeds: []string{"http://127.0.0.1:3/files/"},
		nodes: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:6881")}, log: quiet()}
	m, err := mk.make(context.Background(), item{path: data})
	require.NoError(t, err)
	mi, err := metainfo.LoadFromFile(data + ".torrent")
	require.NoError(t, err)
	assert.Equal(t, m.mi.HashInfoBytes(), mi.HashInfoBytes())
	assert.Equal(t, "udp://127.0.0.1:1/announce", mi.Announce)
	assert.Equal(t, metainfo.AnnounceList{{"udp://127.0.0.1:1/announce", "http://127.0.0.1:2/announce"}}, mi.AnnounceList)
	assert.Equal(t, metainfo.UrlList{"http://127.0.0.1:3/files/"}, mi.UrlList)
	assert.Equal(t, []metainfo.Node{"127.0.0.1:6881"}, mi.Nodes, "the seeder's DHT node")

	// With -verify=false, a .torrent no older than the data is read, not
	// made again; data newer than it is hashed again.
	again, err := (&maker{trustOld: true, log: quiet()}).make(context.Background(), item{path: data})
	require.NoError(t, err)
	assert.Equal(t, mi.HashInfoBytes(), again.mi.HashInfoBytes())
	assert.Equal(t, "udp://127.0.0.1:1/announce", again.mi.Announce, "the .torrent read, trackers and all")
}

// TestBuildInfo: the torrent made is anacrolix's, for a file and a
// folder; a cancelled context stops the hashing.
func TestBuildInfo(t *testing.T) {
	dir := t.TempDir()
	file := dataFile(t, dir, 300_000)
	folder := filepath.Join(dir, "album")
	require.NoError(t, os.MkdirAll(filepath.Join(folder, "cd2"), 0o755))
	dataFile(t, folder, 70_000)
	dataFile(t, filepath.Join(folder, "cd2"), 90_000)
	for _, root := range []string{file, folder} {
		want := metainfo.Info{PieceLength: 32 << 10}
		require.NoError(t, want.BuildFromFilePath(root))
		got := metainfo.Info{PieceLength: 32 << 10}
		require.NoError(t, buildInfo(context.Background(), &got, root))
		assert.Equal(t, want, got, root)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := buildInfo(ctx, &metainfo.Info{}, file)
	assert.ErrorContains(t, err, "context canceled", "anacrolix's GeneratePieces keeps the text, not the error")
}
