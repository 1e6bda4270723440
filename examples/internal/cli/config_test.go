package cli_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

// flags is a small command line: a string, a bool, a repeatable list.
func flags() (*flag.FlagSet, *string, *bool, *cli.StringList) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var list cli.StringList
	reserve := fs.String("reserve", "1/GiB", "")
	verify := fs.Bool("verify", true, "")
	fs.Var(&list, "tracker", "")
	return fs, reserve, verify, &list
}

func writeConf(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.conf")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestApplyConfig(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		cmdline    []string
		reserve    string
		verify     bool
		trackers   []string
		seeds      []string
		errHas     string
	}{
		{name: "empty", body: "", reserve: "1/GiB", verify: true},
		{name: "comments and blanks", body: "# c\n\n  reserve = 2/GiB   # trailing\n", reserve: "2/GiB", verify: true},
		{name: "quoted", body: `reserve = "3/GiB"`, reserve: "3/GiB", verify: true},
		{name: "bool and list", body: "verify = false\ntracker = udp://a:1/announce\ntracker = http://b:2/announce#frag\n",
			reserve: "1/GiB", trackers: []string{"udp://a:1/announce", "http://b:2/announce#frag"}},
		{name: "extra lines", body: "seed = /a\nseed = /b c\n", reserve: "1/GiB", verify: true, seeds: []string{"/a", "/b c"}},
		{name: "the command line wins", body: "reserve = 2/GiB\ntracker = udp://a:1/announce\n", cmdline: []string{"-reserve", "5", "-tracker", "udp://c:3/announce"},
			reserve: "5", verify: true, trackers: []string{"udp://c:3/announce"}},
		{name: "no equals", body: "reserve 2/GiB", errHas: "x.conf:1: want name = value"},
		{name: "unknown", body: "\nturbo = on", errHas: `x.conf:2: unknown setting "turbo"`},
		{name: "bad bool", body: "verify = maybe", errHas: "x.conf:1: verify = maybe"},
		{name: "a key", body: "key = abc", errHas: "never go in a config file"},
		{name: "a dashed key", body: "-private-key = abc", errHas: "never go in a config file"},
		{name: "a passphrase", body: "passphrase = hunter2", errHas: "never go in a config file"},
		{name: "a value like a key", body: "reserve = 0x" + strings.Repeat("a1", 32), errHas: "looks like a private key"},
		{name: "another config", body: "config = y.conf", errHas: "cannot name another"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, reserve, verify, list := flags()
			require.NoError(t, fs.Parse(tc.cmdline))
			got, err := cli.ApplyConfig(fs, writeConf(t, tc.body), "seed")
			if tc.errHas != "" {
				require.Error(t, err)
				assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
				assert.ErrorContains(t, err, tc.errHas)
				assert.NotContains(t, err.Error(), "hunter2")
				assert.NotContains(t, err.Error(), strings.Repeat("a1", 32))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.reserve, *reserve)
			assert.Equal(t, tc.verify, *verify)
			assert.Equal(t, tc.trackers, []string(*list))
			assert.Equal(t, tc.seeds, got["seed"])
		})
	}
	fs, _, _, _ := flags()
	_, err := cli.ApplyConfig(fs, filepath.Join(t.TempDir(), "missing.conf"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
}

// FuzzApplyConfig: any file gives settings or a setup error, never a
// panic, and never echoes a key-like value.
func FuzzApplyConfig(f *testing.F) {
	f.Add("reserve = 1/GiB\n# x\ntracker = udp://a:1/announce\n")
	f.Add("key = " + strings.Repeat("0", 64))
	f.Add("=\n==\n = x\nverify=\n")
	f.Add(strings.Repeat("a", 70000))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, "f.conf")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		fs, _, _, _ := flags()
		_, err := cli.ApplyConfig(fs, p, "seed")
		if err != nil {
			var se *cli.SetupError
			require.True(t, errors.As(err, &se), "%v", err)
		}
	})
}

func TestVersion(t *testing.T) {
	v := cli.Version("seeder")
	assert.True(t, strings.HasPrefix(v, "seeder "), v)
	assert.Contains(t, v, "go1.")
}
