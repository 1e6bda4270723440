// Package e2e_test builds examples/seeder and examples/leecher as binaries
// and runs them as processes on 127.0.0.1 against a devnet started in the
// test process: a paid download, redemption at shutdown, a restart on the
// same state, the status page in headless Chromium, /metrics, reclaiming
// after expiry, and the refusals that exit 2.
package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/browser"
	"github.com/bttspeed/bttspeed/internal/leaktest"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// bins holds the built commands; empty when they could not be built.
var bins struct {
	dir     string
	seeder  string
	leecher string
	err     error
}

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "bttspeed-e2e-")
		if err != nil {
			bins.err = err
		} else {
			defer os.RemoveAll(dir)
			bins.dir = dir
			bins.err = build(dir)
		}
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(leaktest.Ignore...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// build compiles both commands into dir (with -race under -race).
func build(dir string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("no go tool in PATH to build the commands with: %w", err)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/bttspeed/bttspeed/examples/seeder", "github.com/bttspeed/bttspeed/examples/leecher")
	cmd := exec.Command(goTool, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out.String())
	}
	bins.seeder, bins.leecher = filepath.Join(dir, "seeder"), filepath.Join(dir, "leecher")
	return nil
}

func needBins(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("signals to child processes")
	}
	require.NoError(t, bins.err, "building the commands")
}

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

// proc is a running command.
type proc struct {
	t        *testing.T
	name     string
	cmd      *exec.Cmd
	out, err syncBuffer
	done     chan struct{}
	code     int
}

// env is the environment of a command: ours without BTTSPEED_ variables,
// plus extra.
func env(extra ...string) []string {
	var e []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BTTSPEED_") {
			e = append(e, kv)
		}
	}
	return append(e, extra...)
}

func start(t *testing.T, name, bin string, environ []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = environ
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	require.NoError(t, p.cmd.Start())
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code < 0 {
			p.code = -1
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", p.name, tail(p.out.String(), 8<<10), p.name, tail(p.err.String(), 8<<10))
		}
	})
	return p
}

// line waits for a stdout line starting with prefix and returns the rest.
func (p *proc) line(prefix string, within time.Duration) string {
	p.t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(prefix) + `(.*)$`)
	var got string
	require.Eventually(p.t, func() bool {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			got = m[1]
			return true
		}
		select {
		case <-p.done:
			return re.MatchString(p.out.String())
		default:
			return false
		}
	}, within, 10*time.Millisecond, "%s: no %q line; stdout:\n%s\nstderr:\n%s", p.name, prefix, &p.out, &p.err)
	return got
}

// wait waits for the command to exit and returns its exit code.
func (p *proc) wait(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		p.t.Fatalf("%s did not exit within %v; stdout:\n%s\nstderr:\n%s", p.name, within, &p.out, &p.err)
		return -1
	}
}

func keyEnv(node *devnet.Node, i int) string {
	return "BTTSPEED_KEY=" + hex.EncodeToString(crypto.FromECDSA(node.Keys()[i]))
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, b)
	return string(b)
}

// status is the part of the seeder's /status.json the test reads.
type status struct {
	Peers []struct {
		Addr, Slot string
		BttSpeed   bool
	}
	Earned, Redeemed, Redeemable btt.Amount
	Channels                     []struct{ ID, State string }
}

func getStatus(t *testing.T, base string) status {
	t.Helper()
	var s status
	require.NoError(t, json.Unmarshal([]byte(httpGet(t, base+"status.json")), &s))
	return s
}

var spentLine = regexp.MustCompile(`^(\d+) base units`)

// spentOf reads what a finished leecher says it spent.
func spentOf(t *testing.T, p *proc) btt.Amount {
	t.Helper()
	m := spentLine.FindStringSubmatch(p.line("spent: ", time.Second))
	require.NotNil(t, m, p.out.String())
	a, err := btt.ParseAmount(m[1])
	require.NoError(t, err)
	return a
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	require.NoError(t, err)
	y, err := os.ReadFile(b)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(x, y), "%s and %s differ", a, b)
}

func add(t *testing.T, a, b btt.Amount) btt.Amount {
	s, err := a.Add(b)
	require.NoError(t, err)
	return s
}

// TestPaidDownloadRestartReclaim is the operator's story, with real
// processes: a seeder sells a file to a leecher over loopback, paid on the
// devnet; SIGINT makes it redeem the vouchers (its token balance grows by
// what the leecher says it spent) and exit 0; restarted on the same state
// it serves a second leecher (from the magnet link) while its status page
// shows the paid slot in Chromium; killed, then restarted once more, it
// redeems the second leecher's vouchers on SIGTERM; after expiry the
// leechers reclaim the rest of their deposits.
func TestPaidDownloadRestartReclaim(t *testing.T) {
	needBins(t)
	node, err := devnet.Start(context.Background(), devnet.Config{Seed: "e2e", Accounts: 3, DeployContracts: true})
	require.NoError(t, err)
	defer node.Close()
	seedAcct, l1Acct, l2Acct := node.Accounts()[0], node.Accounts()[1], node.Accounts()[2]
	seedStart, l1Start, l2Start := node.TokenBalance(seedAcct), node.TokenBalance(l1Acct), node.TokenBalance(l2Acct)

	work := t.TempDir()
	dataDir, sstate, l1state, l2state := filepath.Join(work, "data"), filepath.Join(work, "seeder-state"), filepath.Join(work, "l1-state"), filepath.Join(work, "l2-state")
	require.NoError(t, os.MkdirAll(dataDir, 0o755))
	data := filepath.Join(dataDir, "movie.bin")
	buf := make([]byte, 4<<20)
	_, _ = rand.Read(buf)
	require.NoError(t, os.WriteFile(data, buf, 0o644))
	chainArgs := []string{"-chain", node.Addr(), "-log-format", "json"}

	// 1. The seeder makes the torrent and sells; the leecher buys it all.
	s1 := start(t, "seeder#1", bins.seeder, env(keyEnv(node, 0)), append(chainArgs, "-state", sstate, "-listen", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-rechoke", "300ms", "-reserve", "1000", "-piece-length", "64KiB", "-redeem-every", "1h", data)...)
	s1.line("seeding", 30*time.Second)
	torrent := s1.line("torrent: ", time.Second)
	assert.Equal(t, data+".torrent", torrent)
	listen := s1.line("listening: ", time.Second)
	web := s1.line("status: ", time.Second)
	assert.Equal(t, seedAcct.String(), s1.line("payee: ", time.Second))

	dl1 := filepath.Join(work, "dl1")
	l1 := start(t, "leecher#1", bins.leecher, env(keyEnv(node, 1)), append(chainArgs, "-state", l1state, "-torrent", torrent, "-dir", dl1,
		"-budget", "1", "-strategy", "fixed", "-price", "3000", "-peer", listen, "-listen", "127.0.0.1:0", "-progress", "200ms")...)
	require.Equal(t, 0, l1.wait(60*time.Second), "leecher#1 exit code")
	sameFile(t, data, filepath.Join(dl1, "movie.bin"))
	assert.Contains(t, l1.out.String(), "complete: movie.bin, 4.0 MiB")
	spent1 := spentOf(t, l1)
	require.True(t, spent1.Gt(btt.Zero), "leecher#1 paid")
	assert.False(t, spent1.Gt(btt.NewAmount(1000*(4<<20))), "at most the clearing price (the reserve) per byte: %s", spent1)
	ch1 := strings.Fields(l1.line("channel: ", time.Second))[0]

	// The payee store holds every voucher: status and /metrics say so.
	st := getStatus(t, web)
	assert.Equal(t, spent1, st.Earned, "the seeder holds what the leecher signed")
	assert.True(t, st.Redeemed.IsZero())
	metrics := httpGet(t, web+"metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	require.NoError(t, err)
	require.Contains(t, fams, "bttspeed_earned_btt")
	assert.InDelta(t, float64(spent1.Big().Int64())/1e18, fams["bttspeed_earned_btt"].GetMetric()[0].GetGauge().GetValue(), 1e-15)
	assert.Equal(t, float64(4<<20), fams["bttspeed_uploaded_bytes_total"].GetMetric()[0].GetCounter().GetValue())

	// 2. SIGINT: the seeder stops, redeems everything, exits 0.
	require.NoError(t, s1.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, 0, s1.wait(60*time.Second), "seeder#1 exit code")
	assert.Contains(t, s1.out.String(), "redeemed: "+spent1.String()+" base units")
	assert.True(t, strings.HasSuffix(s1.out.String(), "stopped\n"))
	assert.Equal(t, add(t, seedStart, spent1), node.TokenBalance(seedAcct), "the seeder's balance grew by what the leecher's vouchers say")
	assert.NotContains(t, s1.err.String()+l1.err.String(), hex.EncodeToString(crypto.FromECDSA(node.Keys()[0]))[:24], "no key in a log")

	// 3. Restarted on the same state (from the .torrent), it still
	// serves: a second leecher comes by the magnet link.
	// The upload cap keeps it connected long enough to look at the page.
	s2 := start(t, "seeder#2", bins.seeder, env(keyEnv(node, 0)), append(chainArgs, "-state", sstate, "-torrent", torrent, "-dir", dataDir,
		"-listen", "127.0.0.1:0", "-http", "127.0.0.1:0", "-rechoke", "300ms", "-reserve", "1000", "-upload-rate", "1MiB", "-redeem-every", "1h")...)
	s2.line("seeding", 30*time.Second)
	magnet := s2.line("magnet: ", time.Second)
	web = s2.line("status: ", time.Second)
	assert.Contains(t, magnet, "x.pe=127.0.0.1")
	st = getStatus(t, web)
	assert.Equal(t, spent1, st.Redeemed, "the store remembers the redemption")
	require.Len(t, st.Channels, 1)
	assert.Equal(t, ch1, st.Channels[0].ID)
	assert.Equal(t, "open", st.Channels[0].State, "claimed, not closed: far from expiry")

	dl2 := filepath.Join(work, "dl2")
	l2 := start(t, "leecher#2", bins.leecher, env(keyEnv(node, 2)), append(chainArgs, "-state", l2state, "-magnet", magnet, "-dir", dl2,
		"-budget", "2", "-rechoke", "300ms", "-listen", "127.0.0.1:0", "-progress", "200ms")...)
	require.Eventually(t, func() bool {
		for _, p := range getStatus(t, web).Peers {
			if p.Slot == "paid" && p.BttSpeed {
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "leecher#2 holds a paid slot")
	if bin, err := browser.Find(); err != nil {
		t.Log("status page in Chromium not checked:", err)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		dom, err := browser.DumpDOM(ctx, bin, t.TempDir(), web)
		cancel()
		require.NoError(t, err)
		assert.Regexp(t, `<tr class="peer paid" data-addr="127\.0\.0\.1:\d+" data-slot="paid">`, dom)
		assert.Contains(t, dom, `data-id="`+ch1+`" data-state="open"`)
		assert.Contains(t, dom, `id="redeemed" title="`+spent1.String()+` base units"`)
		assert.Contains(t, dom, "bttspeed seeder: movie.bin")
		assert.Contains(t, dom, "1000 base/B")
	}
	require.Equal(t, 0, l2.wait(60*time.Second), "leecher#2 exit code")
	sameFile(t, data, filepath.Join(dl2, "movie.bin"))
	spent2 := spentOf(t, l2)
	require.True(t, spent2.Gt(btt.Zero), "leecher#2 paid")
	assert.Equal(t, add(t, spent1, spent2), getStatus(t, web).Earned)

	// 4. A crash (SIGKILL) loses nothing: the next run, trusting the
	// piece completion on disk (-verify=false), finds the vouchers in
	// its store and redeems them when SIGTERM stops it.
	require.NoError(t, s2.cmd.Process.Kill())
	s2.wait(10 * time.Second)
	assert.Equal(t, add(t, seedStart, spent1), node.TokenBalance(seedAcct), "nothing redeemed at the crash")
	s3 := start(t, "seeder#3", bins.seeder, env(keyEnv(node, 0)), append(chainArgs, "-state", sstate, "-torrent", torrent, "-dir", dataDir,
		"-verify=false", "-listen", "127.0.0.1:0", "-http", "127.0.0.1:0", "-reserve", "1000", "-redeem-every", "1h")...)
	s3.line("seeding", 30*time.Second)
	st = getStatus(t, s3.line("status: ", time.Second))
	assert.Equal(t, spent2, st.Redeemable, "the crashed run's vouchers are in the store")
	require.NoError(t, s3.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, s3.wait(60*time.Second), "seeder#3 exit code")
	assert.Contains(t, s3.out.String(), "redeemed: "+spent2.String()+" base units")
	assert.Equal(t, add(t, seedStart, add(t, spent1, spent2)), node.TokenBalance(seedAcct))

	// 5. After expiry the leechers take back what they did not spend.
	node.Advance(25 * time.Hour)
	for i, tc := range []struct {
		state        string
		key          int
		spent, start btt.Amount
		acct         btt.Address
		deposit      btt.Amount
	}{{l1state, 1, spent1, l1Start, l1Acct, btt.BTT(1)}, {l2state, 2, spent2, l2Start, l2Acct, btt.BTT(2)}} {
		r := start(t, fmt.Sprintf("reclaim#%d", i+1), bins.leecher, env(keyEnv(node, tc.key)), "reclaim", "-chain", node.Addr(), "-state", tc.state)
		require.Equal(t, 0, r.wait(30*time.Second))
		back, _ := tc.deposit.Sub(tc.spent)
		assert.Contains(t, r.out.String(), "reclaimed: "+back.String()+" base units ("+back.FormatBTT()+" BTT) from 1 channels")
		left, _ := tc.start.Sub(tc.spent)
		assert.Equal(t, left, node.TokenBalance(tc.acct), "leecher#%d lost exactly what it spent", i+1)
	}
}

// TestBinariesRefuse: the built commands exit 2 with a clear message, and
// no panic, on bad flags, missing files, an unreachable node and an empty
// wallet.
func TestBinariesRefuse(t *testing.T) {
	needBins(t)
	node, err := devnet.Start(context.Background(), devnet.Config{Seed: "e2e-refuse", Accounts: 1, DeployContracts: true})
	require.NoError(t, err)
	defer node.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()
	poor, err := crypto.GenerateKey()
	require.NoError(t, err)
	poorEnv := "BTTSPEED_KEY=" + hex.EncodeToString(crypto.FromECDSA(poor))
	dir := t.TempDir()
	data := filepath.Join(dir, "f.bin")
	require.NoError(t, os.WriteFile(data, []byte("some data to seed"), 0o644))

	for _, tc := range []struct {
		name string
		bin  string
		env  []string
		args []string
		has  string
	}{
		{"seeder no args", bins.seeder, nil, nil, "seeder: nothing to seed"},
		{"seeder missing file", bins.seeder, nil, []string{filepath.Join(dir, "missing.bin")}, "nothing to seed at"},
		{"seeder bad flag", bins.seeder, nil, []string{"-reserve", "free", data}, `-reserve "free"`},
		{"seeder public http", bins.seeder, nil, []string{"-http", "0.0.0.0:8080", data}, "not a loopback address"},
		{"seeder unreachable", bins.seeder, []string{poorEnv}, []string{"-chain", closed, "-state", t.TempDir(), data}, "cannot reach the TRON node at " + closed},
		{"seeder empty wallet", bins.seeder, []string{poorEnv}, []string{"-chain", node.Addr(), "-state", t.TempDir(), data}, "empty wallet"},
		{"leecher no args", bins.leecher, nil, nil, "leecher: nothing to download"},
		{"leecher missing torrent", bins.leecher, nil, []string{"-torrent", filepath.Join(dir, "none.torrent")}, "no such file"},
		{"leecher bad strategy", bins.leecher, nil, []string{"-torrent", data, "-strategy", "yolo"}, `-strategy "yolo"`},
		{"leecher key flag", bins.leecher, nil, []string{"-key", "00"}, "never taken on the command line"},
		{"leecher unreachable", bins.leecher, []string{poorEnv}, []string{"reclaim", "-chain", closed, "-state", t.TempDir()}, "cannot reach the TRON node"},
		{"leecher empty wallet", bins.leecher, []string{poorEnv}, []string{"reclaim", "-chain", node.Addr(), "-state", t.TempDir()}, "has 0 TRX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-listen", "127.0.0.1:0"}, tc.args...)
			if len(tc.args) > 0 && tc.args[0] == "reclaim" {
				args = tc.args // a subcommand comes first, and listens on nothing
			}
			p := start(t, tc.name, tc.bin, env(tc.env...), args...)
			assert.Equal(t, 2, p.wait(20*time.Second), "stderr: %s", &p.err)
			assert.Contains(t, p.err.String(), tc.has)
			assert.NotContains(t, p.err.String(), "panic")
			assert.NotContains(t, p.err.String(), "goroutine ")
		})
	}
}
