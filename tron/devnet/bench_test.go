package devnet

import (
	"context"
	"math/big"
	"strings"
	"testing"

	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/fbsobreira/gotron-sdk/pkg/signer"
	"github.com/stretchr/testify/require"
)

// benchEnv is a node with the contracts and a client.
func benchEnv(b *testing.B) (*Node, *client.GrpcClient) {
	b.Helper()
	n, err := Start(context.Background(), Config{Seed: "bench", GenesisTime: testGenesis, DeployContracts: true})
	require.NoError(b, err)
	b.Cleanup(func() { _ = n.Close() })
	c := client.NewGrpcClient(n.Addr())
	require.NoError(b, c.Start(client.GRPCInsecure()))
	b.Cleanup(c.Stop)
	return n, c
}

// BenchmarkTriggerConstantContract: a balanceOf through gotron-sdk, the
// gRPC round trip included.
func BenchmarkTriggerConstantContract(b *testing.B) {
	n, c := benchEnv(b)
	ctx := context.Background()
	data, err := tokenABI().Pack("balanceOf", evmAddr(n.Accounts()[0]))
	require.NoError(b, err)
	from, token := n.Accounts()[0].String(), n.Token().String()
	b.ReportAllocs()
	for b.Loop() {
		ext, err := c.TriggerConstantContractWithDataCtx(ctx, from, token, data)
		if err != nil || !ext.Result.Result {
			b.Fatal(err, ext.GetResult())
		}
	}
}

// BenchmarkConstantCallEVM: the same call without RPC: the node's EVM
// alone.
func BenchmarkConstantCallEVM(b *testing.B) {
	n, _ := benchEnv(b)
	data, err := tokenABI().Pack("balanceOf", evmAddr(n.Accounts()[0]))
	require.NoError(b, err)
	from, token := n.Accounts()[0], n.Token()
	b.ReportAllocs()
	for b.Loop() {
		n.mu.Lock()
		out := n.chain.constantCall(from, token, data, MaxConstantEnergy)
		n.mu.Unlock()
		if out.err != nil {
			b.Fatal(out.err)
		}
	}
}

// BenchmarkDeployCycle: DeployContract, sign, broadcast (mined at once)
// and GetTransactionInfoById, through gotron-sdk.
func BenchmarkDeployCycle(b *testing.B) {
	n, c := benchEnv(b)
	ctx := context.Background()
	a, err := protoABI(probeABIJSON)
	require.NoError(b, err)
	key := n.Keys()[0]
	owner := n.Accounts()[0].String()
	s, err := signer.NewPrivateKeySigner(key)
	require.NoError(b, err)
	code := strings.TrimSpace(probeBin)
	b.ReportAllocs()
	for b.Loop() {
		ext, err := c.DeployContractCtx(ctx, owner, "Probe", a, code, 100*SunPerTRX, 100, 10_000_000)
		if err != nil {
			b.Fatal(err)
		}
		tx, err := s.Sign(ext.Transaction)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.BroadcastCtx(ctx, tx); err != nil {
			b.Fatal(err)
		}
		info, err := c.GetTransactionInfoByIDCtx(ctx, hexID(ext.Txid))
		if err != nil || info.Result != core.TransactionInfo_SUCESS {
			b.Fatal(err, info.GetResMessage())
		}
	}
}

// BenchmarkTriggerCycle: a state-changing call (the token's transfer)
// built, signed, broadcast and its receipt read, through gotron-sdk.
func BenchmarkTriggerCycle(b *testing.B) {
	n, c := benchEnv(b)
	ctx := context.Background()
	key := n.Keys()[0]
	s, err := signer.NewPrivateKeySigner(key)
	require.NoError(b, err)
	from, token := n.Accounts()[0].String(), n.Token().String()
	data, err := tokenABI().Pack("transfer", evmAddr(n.Accounts()[1]), big.NewInt(1))
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		ext, err := c.TriggerContractWithDataCtx(ctx, from, token, data, 100*SunPerTRX, 0, "", 0)
		if err != nil {
			b.Fatal(err)
		}
		tx, err := s.Sign(ext.Transaction)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.BroadcastCtx(ctx, tx); err != nil {
			b.Fatal(err)
		}
		info, err := c.GetTransactionInfoByIDCtx(ctx, hexID(ext.Txid))
		if err != nil || info.Result != core.TransactionInfo_SUCESS {
			b.Fatal(err, info.GetResMessage())
		}
	}
}
