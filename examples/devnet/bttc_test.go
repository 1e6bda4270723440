package main

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc"
	"github.com/bttspeed/bttspeed/paychan"
)

var bttcAccountLine = regexp.MustCompile(`^account (\d+): (0x[0-9a-fA-F]{40}) key ([0-9a-f]{64}) BTT (\d+) token (\S+)$`)

// TestRunBTTC: -chain bttc serves JSON-RPC on a loopback port with the
// printed keys funded, the token and an EIP-712 escrow deployed; a payer
// with a printed key opens a channel through bttc.Escrow; the context's
// end stops it.
func TestRunBTTC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runBTTC(runCtx, pw, "127.0.0.1:0", 2, "bttc-test", 0, time.Hour)
		_ = pw.CloseWithError(err)
		done <- err
	}()

	var url, escrow, creation string
	var keys, addrs []string
	var lines []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		switch {
		case strings.HasPrefix(line, "rpc: "):
			url = strings.TrimPrefix(line, "rpc: ")
		case strings.HasPrefix(line, "escrow: "):
			f := strings.Fields(line)
			escrow, creation = f[1], strings.TrimSuffix(f[len(f)-2], ":")
		case bttcAccountLine.MatchString(line):
			m := bttcAccountLine.FindStringSubmatch(line)
			addrs, keys = append(addrs, m[2]), append(keys, m[3])
			assert.Equal(t, "1000000", m[4])
			assert.Equal(t, "1000000", m[5])
		}
		if strings.HasPrefix(line, "ready") {
			break
		}
	}
	require.Regexp(t, `^http://127\.0\.0\.1:\d+$`, url, "output:\n%s", strings.Join(lines, "\n"))
	require.Len(t, keys, 2)
	assert.Contains(t, strings.Join(lines, "\n"), "WARNING: the private keys below are throwaway devnet keys")

	key, err := crypto.HexToECDSA(keys[0])
	require.NoError(t, err)
	assert.Equal(t, addrs[0], crypto.PubkeyToAddress(key.PublicKey).Hex())
	c, err := bttc.Dial(ctx, bttc.Config{URL: url, Key: key, Confirmations: 1, PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	e, err := bttc.NewEscrow(c, btt.AddressFromEVM(common.HexToAddress(escrow)), bttc.WithCreationTx(common.HexToHash(creation)))
	require.NoError(t, err)
	dom, err := e.Domain(ctx)
	require.NoError(t, err)
	assert.Equal(t, paychan.SchemeEIP712, dom.Scheme)
	now, err := e.Now(ctx)
	require.NoError(t, err)
	ch, err := e.Open(ctx, btt.AddressFromEVM(common.HexToAddress(addrs[1])), btt.BTT(10), now.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, paychan.ChannelOpen, ch.State)

	stop()
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, <-done)
	assert.Equal(t, "stopping", lines[len(lines)-1])
}

// TestRunBTTCFlags: bad -chain and -listen values fail without starting
// anything.
func TestRunBTTCFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-chain", "eth"},
		{"-chain", "bttc", "-listen", "0.0.0.0:0"},
		{"-chain", "bttc", "-listen", "nope"},
		{"-chain", "bttc", "-block-interval", "1500ms"},
		{"-chain", "bttc", "-accounts", "0"},
	} {
		assert.Error(t, run(args, &strings.Builder{}), "%q", args)
	}
}
