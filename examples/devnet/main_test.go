package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/signer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/leaktest"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// TestMain checks for leaked goroutines, but for two of go-ethereum's
// (the -chain bttc node's): the transaction sender cache, a process-wide
// pool it starts once and never stops, and an in-memory leveldb's pool
// drainer, which ends up to a second after its database closes.
func TestMain(m *testing.M) {
	leaktest.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/ethereum/go-ethereum/core.(*txSenderCacher).cache"),
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"))
}

var accountLine = regexp.MustCompile(`^account (\d+): (T\w+) key ([0-9a-f]{64}) TRX (\d+) token (\S+)$`)

// TestCommand builds the command, runs it on a free port, uses it through
// gotron-sdk, and stops it with SIGINT.
func TestCommand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGINT to a child process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "devnet")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH to build the command with")
	}
	build := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	cmd := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0", "-accounts", "3", "-seed", "cmd-test")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }() // after a failure only: Wait reaps it below

	var (
		addr, token, escrow string
		keys                []string
		lines               []string
	)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		switch {
		case strings.HasPrefix(line, "grpc: "):
			addr = strings.TrimPrefix(line, "grpc: ")
		case strings.HasPrefix(line, "token: "):
			token = strings.Fields(line)[1]
		case strings.HasPrefix(line, "escrow: "):
			escrow = strings.Fields(line)[1]
		case accountLine.MatchString(line):
			m := accountLine.FindStringSubmatch(line)
			keys = append(keys, m[3])
			assert.Equal(t, "1000000", m[4])
			assert.Equal(t, "1000000", m[5])
		}
		if strings.HasPrefix(line, "ready") {
			break
		}
	}
	require.NoError(t, sc.Err())
	require.Regexp(t, `^127\.0\.0\.1:\d+$`, addr, "output:\n%s", strings.Join(lines, "\n"))
	require.Len(t, keys, 3)
	assert.Contains(t, strings.Join(lines, "\n"), "WARNING: the private keys below are throwaway devnet keys")

	// The node answers gotron-sdk: the keys printed are the funded ones.
	c := client.NewGrpcClient(addr)
	require.NoError(t, c.Start(client.GRPCInsecure()))
	defer c.Stop()
	key, err := crypto.HexToECDSA(keys[0])
	require.NoError(t, err)
	from := paychan.AddressOf(&key.PublicKey)
	acct, err := c.GetAccountCtx(ctx, from.String())
	require.NoError(t, err)
	assert.Equal(t, int64(1_000_000_000_000), acct.Balance)

	// The contracts are there: a token balance by constant call, the
	// escrow's ABI.
	escrowABI, err := c.GetContractABICtx(ctx, escrow)
	require.NoError(t, err)
	assert.NotEmpty(t, escrowABI.Entrys)
	data, err := contracts.TokenABI().Pack("balanceOf", common.Address(from.EVM()))
	require.NoError(t, err)
	ext, err := c.TriggerConstantContractWithDataCtx(ctx, "", token, data)
	require.NoError(t, err)
	require.True(t, ext.Result.Result)
	assert.Equal(t, btt.BTT(1_000_000).Big(), new(big.Int).SetBytes(ext.ConstantResult[0]))

	// A transfer signed with a printed key.
	key1, err := crypto.HexToECDSA(keys[1])
	require.NoError(t, err)
	to := paychan.AddressOf(&key1.PublicKey)
	tx, err := c.TransferCtx(ctx, from.String(), to.String(), 1_000_000)
	require.NoError(t, err)
	s, err := signer.NewPrivateKeySigner(key)
	require.NoError(t, err)
	signed, err := s.Sign(tx.Transaction)
	require.NoError(t, err)
	_, err = c.BroadcastCtx(ctx, signed)
	require.NoError(t, err)
	info, err := c.GetTransactionInfoByIDCtx(ctx, hex.EncodeToString(tx.Txid))
	require.NoError(t, err)
	assert.Positive(t, info.BlockNumber)

	// SIGINT stops it cleanly.
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, cmd.Wait(), "exit status; output:\n%s", strings.Join(lines, "\n"))
	assert.Equal(t, "stopping", lines[len(lines)-1])
}

// TestRunFlags: bad flags fail without starting anything.
func TestRunFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-listen", "0.0.0.0:0"},
		{"-accounts", "-3"},
		{"-nope"},
		{"extra"},
	} {
		assert.Error(t, run(args, &strings.Builder{}), "%q", args)
	}
	assert.NoError(t, run([]string{"-h"}, &strings.Builder{}))
}
