package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeCommands returns the shell commands of the first sh block of the
// README's section, continuation lines joined and comments dropped.
func readmeCommands(t *testing.T, readme, section string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	require.NoError(t, err)
	s := string(b)
	i := strings.Index(s, "\n"+section+"\n")
	require.GreaterOrEqual(t, i, 0, "no %q in %s", section, readme)
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	require.GreaterOrEqual(t, start, 0)
	s = s[start+len("```sh\n"):]
	s = s[:strings.Index(s, "```")]
	s = strings.ReplaceAll(s, "\\\n", " ")
	var cmds []string
	for _, line := range strings.Split(s, "\n") {
		if j := strings.Index(line, " #"); j >= 0 {
			line = line[:j]
		}
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a command started by TestREADME.
type proc struct {
	name     string
	cmd      *exec.Cmd
	out, err syncBuffer
	done     chan struct{}
}

func (p *proc) waitLine(t *testing.T, re string, within time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(`(?m)^` + re + `$`)
	var m []string
	require.Eventually(t, func() bool {
		m = rx.FindStringSubmatch(p.out.String())
		if m != nil {
			return true
		}
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}, within, 20*time.Millisecond)
	require.NotNil(t, m, "%s printed no %q; stdout:\n%s\nstderr:\n%s", p.name, re, &p.out, &p.err)
	return m
}

func (p *proc) exit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("%s did not exit within %v; stdout:\n%s\nstderr:\n%s", p.name, within, &p.out, &p.err)
		return -1
	}
}

// TestREADME runs the README's "Running a seeder" commands as an operator
// would, in one directory: the devnet, the data, the seeder and the
// leecher, built as binaries from this tree, with the flags the README
// shows. Only the loopback ports are changed (to free ones, so that the
// test runs beside anything) and the keys are the ones the devnet
// printed. The leecher must finish, paid and byte-identical, and the
// seeder, stopped as with Ctrl-C, must redeem what it earned.
func TestREADME(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals to child processes, /dev/urandom")
	}
	if testing.Short() {
		t.Skip("-short: builds three commands and moves 64 MiB (about a minute)")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the commands with")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	cmds := readmeCommands(t, filepath.Join(root, "README.md"), "## Running a seeder")
	require.Len(t, cmds, 4, "the devnet, the data, the seeder, the leecher: %q", cmds)

	bin := t.TempDir()
	build := exec.Command(goTool, "build", "-o", bin+string(filepath.Separator), "./examples/devnet", "./examples/seeder", "./examples/leecher")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	work := t.TempDir()
	ports := map[string]string{}
	for _, p := range []string{"127.0.0.1:6881", "127.0.0.1:8080"} {
		ports[p] = freeAddr(t)
	}
	keys := map[string]string{}
	start := func(line string) *proc {
		t.Helper()
		for from, to := range ports {
			line = strings.ReplaceAll(line, from, to)
		}
		line = regexp.MustCompile(`<account (\d+) key>`).ReplaceAllStringFunc(line, func(s string) string {
			n := regexp.MustCompile(`\d+`).FindString(s)
			require.Contains(t, keys, n, "the devnet printed no key for account %s", n)
			return keys[n]
		})
		fields := strings.Fields(line)
		var env []string
		for len(fields) > 0 && strings.Contains(fields[0], "=") {
			env = append(env, fields[0])
			fields = fields[1:]
		}
		var cmd *exec.Cmd
		name := fields[0]
		if len(fields) > 2 && fields[0] == "go" && fields[1] == "run" {
			name = filepath.Base(fields[2])
			cmd = exec.Command(filepath.Join(bin, name), fields[3:]...)
		} else {
			cmd = exec.Command("/bin/sh", "-c", strings.Join(fields, " "))
		}
		p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
		cmd.Dir = work
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "BTTSPEED_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		cmd.Stdout, cmd.Stderr = &p.out, &p.err
		require.NoError(t, cmd.Start(), line)
		go func() {
			_ = cmd.Wait()
			close(p.done)
		}()
		t.Cleanup(func() {
			select {
			case <-p.done:
			default:
				_ = cmd.Process.Kill()
				<-p.done
			}
			if t.Failed() {
				t.Logf("%s stdout:\n%s\nstderr:\n%s", name, &p.out, &p.err)
			}
		})
		return p
	}

	// The devnet: the README's command on a free port (-listen given after
	// the README's flags overrides its default, 127.0.0.1:50051).
	require.True(t, strings.HasPrefix(cmds[0], "go run ./examples/devnet"), cmds[0])
	devnet := start(cmds[0] + " -listen 127.0.0.1:0")
	grpc := devnet.waitLine(t, `grpc: (\S+)`, 60*time.Second)[1]
	devnet.waitLine(t, `ready.*`, 30*time.Second)
	for _, m := range regexp.MustCompile(`(?m)^account (\d+): \S+ key ([0-9a-f]{64}) `).FindAllStringSubmatch(devnet.out.String(), -1) {
		keys[m[1]] = m[2]
	}
	ports["127.0.0.1:50051"] = grpc

	data := start(cmds[1])
	require.Equal(t, 0, data.exit(t, 60*time.Second), "%s: %s", cmds[1], &data.err)

	seeder := start(cmds[2])
	seeder.waitLine(t, "seeding", 60*time.Second)
	status := seeder.waitLine(t, `status: (\S+)`, time.Second)[1]
	hint := seeder.waitLine(t, `leecher: (.*)`, time.Second)[1]
	assert.Contains(t, hint, "-chain "+grpc)
	assert.Contains(t, hint, "-peer "+ports["127.0.0.1:6881"])

	leecher := start(cmds[3])
	require.Equal(t, 0, leecher.exit(t, 120*time.Second), "leecher exit code")
	spent := leecher.waitLine(t, `spent: (\d+) base units .*`, time.Second)[1]
	assert.NotEqual(t, "0", spent, "the leecher paid")
	want, err := os.ReadFile(filepath.Join(work, "movie.mkv"))
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(work, "downloads", "movie.mkv"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got), "the download is the seeder's file")
	assert.Len(t, want, 64<<20)

	_, page := get(t, status)
	assert.Contains(t, page, `id="chart-rate"`)
	require.NoError(t, seeder.cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, 0, seeder.exit(t, 60*time.Second), "seeder exit code")
	assert.Contains(t, seeder.out.String(), fmt.Sprintf("redeemed: %s base units", spent))
	require.NoError(t, devnet.cmd.Process.Signal(syscall.SIGTERM))
	devnet.exit(t, 30*time.Second)
}

// TestREADMECommands: the command block is found and read as the test
// above runs it.
func TestREADMECommands(t *testing.T) {
	p := filepath.Join(t.TempDir(), "README.md")
	require.NoError(t, os.WriteFile(p, []byte("# x\n\n## Running a seeder\n\ntext\n\n```sh\ngo run ./a   # a comment\n# only a comment\nB=1 go run ./b -x \\\n    -y\n```\n\n```sh\nnot this\n```\n"), 0o644))
	assert.Equal(t, []string{"go run ./a", "B=1 go run ./b -x      -y"}, readmeCommands(t, p, "## Running a seeder"))
}
