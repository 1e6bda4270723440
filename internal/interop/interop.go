// Package interop runs real BitTorrent clients — Transmission 3 and aria2,
// from Debian's packages — on 127.0.0.1 for the project's interop tests,
// with DHT, local peer discovery, PEX, uTP, UPnP and encryption off.
//
// Tests call Require, which skips when a client is not installed — except
// in CI (CI set in the environment), where a missing client fails the test,
// since .ci/run installs them.
package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Require skips the test if any of the binaries is missing, or fails it in
// CI.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (CI installs it: see .ci/run)", b)
			}
			t.Skipf("%s is not installed (apt-get install -y transmission-daemon transmission-cli aria2)", b)
		}
	}
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs a command until the test ends, logging its output to a file
// in dir.
func start(t testing.TB, dir, name string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, filepath.Base(name)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("%s output:\n%s", name, tail(string(b), 3000))
			}
		}
	})
	return cmd
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Transmission is a transmission-daemon on loopback.
type Transmission struct {
	PeerPort, RPCPort int
	conf              string
}

// TransmissionOptions are the settings a test may change from the
// defaults above.
type TransmissionOptions struct {
	// Encryption is Transmission's "encryption": 0 prefer plaintext, 1
	// prefer encrypted, 2 require encrypted.
	Encryption int
	// UTP turns uTP on.
	UTP bool
}

// StartTransmission starts a daemon whose downloads go to downloadDir.
func StartTransmission(t testing.TB, downloadDir string) *Transmission {
	t.Helper()
	return StartTransmissionWith(t, downloadDir, TransmissionOptions{})
}

// StartTransmissionWith is StartTransmission with options.
func StartTransmissionWith(t testing.TB, downloadDir string, opts TransmissionOptions) *Transmission {
	t.Helper()
	Require(t, "transmission-daemon", "transmission-remote")
	tr := &Transmission{PeerPort: FreePort(t), RPCPort: FreePort(t), conf: t.TempDir()}
	settings := map[string]any{
		"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": opts.UTP,
		"port-forwarding-enabled": false, "peer-port": tr.PeerPort, "peer-port-random-on-start": false,
		"bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
		"rpc-enabled": true, "rpc-port": tr.RPCPort, "rpc-bind-address": "127.0.0.1",
		"rpc-authentication-required": false, "rpc-whitelist-enabled": true, "rpc-whitelist": "127.0.0.1",
		"rpc-host-whitelist-enabled": false,
		"download-dir":               downloadDir, "incomplete-dir-enabled": false, "rename-partial-files": false,
		"encryption":               opts.Encryption,
		"speed-limit-down-enabled": false, "speed-limit-up-enabled": false, "alt-speed-enabled": false,
		"ratio-limit-enabled": false, "idle-seeding-limit-enabled": false,
		"download-queue-enabled": false, "seed-queue-enabled": false, "queue-stalled-enabled": false,
		"start-added-torrents": true, "trash-original-torrent-files": false,
		"cache-size-mb": 4, "peer-limit-global": 200, "peer-limit-per-torrent": 50,
		"preallocation": 1, "message-level": 2, "watch-dir-enabled": false, "blocklist-enabled": false,
	}
	b, _ := json.MarshalIndent(settings, "", " ")
	if err := os.WriteFile(filepath.Join(tr.conf, "settings.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, tr.conf, "transmission-daemon", "-f", "-g", tr.conf)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := tr.remote("-l"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("transmission-daemon did not answer on its RPC port")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return tr
}

func (tr *Transmission) remote(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "transmission-remote", append([]string{fmt.Sprintf("127.0.0.1:%d", tr.RPCPort)}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("transmission-remote %v: %v: %s", args, err, out)
	}
	return string(out), nil
}

// Add adds a .torrent whose data is (or goes) in dir.
func (tr *Transmission) Add(t testing.TB, torrentFile, dir string) {
	t.Helper()
	if _, err := tr.remote("-a", torrentFile, "-w", dir); err != nil {
		t.Fatal(err)
	}
}

// Verify rehashes every torrent's data (to seed files already on disk).
func (tr *Transmission) Verify(t testing.TB) {
	t.Helper()
	if _, err := tr.remote("-t", "all", "-v"); err != nil {
		t.Fatal(err)
	}
}

var percentRe = regexp.MustCompile(`Percent Done:\s*([0-9.]+)%`)

// PercentDone returns the first torrent's progress, 0–100.
func (tr *Transmission) PercentDone(t testing.TB) float64 {
	t.Helper()
	out, err := tr.remote("-t", "1", "-i")
	if err != nil {
		t.Fatal(err)
	}
	m := percentRe.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	p, _ := strconv.ParseFloat(m[1], 64)
	return p
}

// WaitPercent waits until the first torrent reaches pct percent.
func (tr *Transmission) WaitPercent(t testing.TB, pct float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for tr.PercentDone(t) < pct {
		if time.Now().After(deadline) {
			out, _ := tr.remote("-t", "1", "-i")
			t.Fatalf("transmission at %.1f%% after %v, want %.0f%%:\n%s", tr.PercentDone(t), timeout, pct, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Aria2Leech runs aria2c to download a .torrent (whose announce URL must
// reach a tracker: aria2 finds peers only through one) into dir, and
// returns when it exits; it fails the test unless aria2c exits 0.
func Aria2Leech(t testing.TB, torrentFile, dir string, timeout time.Duration) {
	t.Helper()
	Aria2LeechWith(t, torrentFile, dir, timeout, false)
}

// Aria2LeechWith is Aria2Leech, with --bt-require-crypto=true
// --bt-min-crypto-level=arc4 if requireCrypto.
func Aria2LeechWith(t testing.TB, torrentFile, dir string, timeout time.Duration, requireCrypto bool) {
	t.Helper()
	crypto := []string{"--bt-require-crypto=false", "--bt-min-crypto-level=plain"}
	if requireCrypto {
		crypto = []string{"--bt-require-crypto=true", "--bt-min-crypto-level=arc4"}
	}
	Require(t, "aria2c")
	port := FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		crypto[0], crypto[1], "--disable-ipv6=true", "--file-allocation=none",
		"--summary-interval=0", "--console-log-level=notice", "--bt-save-metadata=false", "--auto-save-interval=0",
		"--bt-stop-timeout=0", "--seed-time=0", "--bt-hash-check-seed=false", "--check-integrity=true",
		"--bt-tracker-interval=1", "--bt-tracker-connect-timeout=5", "--bt-tracker-timeout=5",
		"--dir=" + dir, fmt.Sprintf("--listen-port=%d", port), fmt.Sprintf("--dht-listen-port=%d", port), torrentFile,
	}
	out, err := exec.CommandContext(ctx, "aria2c", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("aria2c: %v\n%s", err, tail(strings.TrimSpace(string(out)), 3000))
	}
}
