package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeployFiles: the example config in deploy/ is one the seeder takes,
// the container's entry point and the unit's command lines parse, and the
// unit's stop timeout leaves the seeder its -shutdown-timeout to redeem.
func TestDeployFiles(t *testing.T) {
	deploy := filepath.Join("..", "..", "deploy")
	// The paths the files name exist on a server, not here: flags given
	// after them point at temporary ones (flags override the file).
	here := []string{"-state", t.TempDir(), "-watch", t.TempDir()}
	c, err := parse(append([]string{"-config", filepath.Join(deploy, "seeder.conf")}, here...), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "grpc.nile.trongrid.io:50051", c.chain.Node)
	assert.Equal(t, "127.0.0.1:8080", c.http)

	b, err := os.ReadFile(filepath.Join(deploy, "Containerfile"))
	require.NoError(t, err)
	entry := regexp.MustCompile(`(?m)^ENTRYPOINT \["/usr/local/bin/seeder", (.*)\]$`).FindStringSubmatch(string(b))
	require.NotNil(t, entry)
	var args []string
	for _, a := range strings.Split(entry[1], ", ") {
		s, err := strconv.Unquote(a)
		require.NoError(t, err, a)
		args = append(args, s)
	}
	assert.Contains(t, strings.Join(args, " "), "-state /var/lib/bttspeed/state -watch /var/lib/bttspeed/seed")
	_, err = parse(append(append(args, here...), "-check"), io.Discard)
	require.NoError(t, err, "the container's flags")

	unit, err := os.ReadFile(filepath.Join(deploy, "bttspeed-seeder.service"))
	require.NoError(t, err)
	for _, line := range regexp.MustCompile(`(?m)^Exec\S+=/usr/local/bin/seeder (.*)$`).FindAllStringSubmatch(string(unit), -1) {
		_, err := parse(append(strings.Fields(strings.ReplaceAll(line[1], "/etc/bttspeed/seeder.conf", filepath.Join(deploy, "seeder.conf"))), here...), io.Discard)
		require.NoError(t, err, line[0])
	}
	stop := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)$`).FindStringSubmatch(string(unit))
	require.NotNil(t, stop)
	secs, _ := strconv.Atoi(stop[1])
	assert.GreaterOrEqual(t, time.Duration(secs)*time.Second, c.shutdownTimeout+15*time.Second, "the unit waits for the redemptions at stop")
}
