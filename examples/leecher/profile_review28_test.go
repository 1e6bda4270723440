package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

// TestProfilesOneFile_review28: -cpuprofile and -memprofile naming one
// file is refused before the download: both profiles were written into it
// through two descriptors, the heap profile over the CPU profile's start,
// and neither could be read.
func TestProfilesOneFile_review28(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "prof")
	for _, mem := range []string{p, filepath.Join(dir, ".", "prof")} {
		stop, err := startProfiles(p, mem)
		if err == nil {
			_ = stop()
		}
		require.Error(t, err, mem)
		assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
	}
}
