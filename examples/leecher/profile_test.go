package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

func TestStartProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	stop, err := startProfiles(cpu, mem)
	require.NoError(t, err)
	require.NoError(t, stop())
	for _, p := range []string{cpu, mem} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Positive(t, fi.Size(), p)
	}

	stop, err = startProfiles("", "")
	require.NoError(t, err)
	require.NoError(t, stop(), "no profile asked for")

	for _, tc := range []struct{ cpu, mem, flag string }{
		{filepath.Join(dir, "missing", "cpu"), "", "-cpuprofile"},
		{"", filepath.Join(dir, "missing", "mem"), "-memprofile"},
	} {
		_, err := startProfiles(tc.cpu, tc.mem)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.flag)
		assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
	}
}
