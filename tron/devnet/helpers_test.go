package devnet

import (
	"context"
	"crypto/ecdsa"
	_ "embed"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/fbsobreira/gotron-sdk/pkg/signer"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

// The test contract (testdata/Probe.sol).
var (
	//go:embed testdata/Probe.bin
	probeBin string
	//go:embed testdata/Probe.abi.json
	probeABIJSON string

	probeABI = func() abi.ABI {
		a, err := abi.JSON(strings.NewReader(probeABIJSON))
		if err != nil {
			panic(err)
		}
		return a
	}()
)

// testGenesis is a fixed start for reproducible clocks.
var testGenesis = time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC)

// env is a node and a gotron-sdk client connected to it.
type env struct {
	t    *testing.T
	node *Node
	c    *client.GrpcClient
	ctx  context.Context
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	if cfg.Seed == "" {
		cfg.Seed = t.Name()
	}
	if cfg.GenesisTime.IsZero() {
		cfg.GenesisTime = testGenesis
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	n, err := Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	c := client.NewGrpcClient(n.Addr())
	require.NoError(t, c.Start(client.GRPCInsecure()))
	t.Cleanup(c.Stop)
	return &env{t: t, node: n, c: c, ctx: ctx}
}

func (e *env) addr(i int) btt.Address { return addressOf(e.node.Keys()[i]) }

// sign signs a transaction the node built with key, through gotron-sdk's
// signer, and checks the node's txid is the id signed.
func (e *env) sign(ext *api.TransactionExtention, key *ecdsa.PrivateKey) *core.Transaction {
	e.t.Helper()
	require.NotNil(e.t, ext.GetTransaction(), "no transaction: %s", ext.GetResult().GetMessage())
	s, err := signer.NewPrivateKeySigner(key)
	require.NoError(e.t, err)
	tx, err := s.Sign(ext.Transaction)
	require.NoError(e.t, err)
	id, err := txID(tx.RawData)
	require.NoError(e.t, err)
	require.Equal(e.t, ext.Txid, id[:], "the node's txid is sha256(raw_data)")
	return tx
}

// send signs and broadcasts, and returns the receipt.
func (e *env) send(ext *api.TransactionExtention, key *ecdsa.PrivateKey) *core.TransactionInfo {
	e.t.Helper()
	tx := e.sign(ext, key)
	_, err := e.c.BroadcastCtx(e.ctx, tx)
	require.NoError(e.t, err)
	info, err := e.c.GetTransactionInfoByIDCtx(e.ctx, hexID(ext.Txid))
	require.NoError(e.t, err)
	return info
}

func hexID(id []byte) string { return hex.EncodeToString(id) }

// deployProbe deploys the test contract from key i and returns its address
// and receipt.
func (e *env) deployProbe(i int) (btt.Address, *core.TransactionInfo) {
	e.t.Helper()
	a, err := protoABI(probeABIJSON)
	require.NoError(e.t, err)
	ext, err := e.c.DeployContractCtx(e.ctx, e.addr(i).String(), "Probe", a, strings.TrimSpace(probeBin), 100*SunPerTRX, 100, 10_000_000)
	require.NoError(e.t, err)
	info := e.send(ext, e.node.Keys()[i])
	require.Equal(e.t, core.TransactionInfo_SUCESS, info.Result, "deploy: %s", info.ResMessage)
	addr, err := btt.AddressFromBytes(info.ContractAddress)
	require.NoError(e.t, err)
	return addr, info
}

// trigger sends a call of the probe from key i.
func (e *env) trigger(i int, to btt.Address, feeLimit int64, method string, args ...any) *core.TransactionInfo {
	e.t.Helper()
	data, err := probeABI.Pack(method, args...)
	require.NoError(e.t, err)
	ext, err := e.c.TriggerContractWithDataCtx(e.ctx, e.addr(i).String(), to.String(), data, feeLimit, 0, "", 0)
	require.NoError(e.t, err)
	return e.send(ext, e.node.Keys()[i])
}

// view makes a constant call of the probe and unpacks its single result.
func (e *env) view(to btt.Address, method string, args ...any) any {
	e.t.Helper()
	data, err := probeABI.Pack(method, args...)
	require.NoError(e.t, err)
	ext, err := e.c.TriggerConstantContractWithDataCtx(e.ctx, "", to.String(), data)
	require.NoError(e.t, err)
	require.True(e.t, ext.Result.Result, "%s: %s", method, ext.Result.Message)
	require.Equal(e.t, core.Transaction_Result_SUCESS, ext.Transaction.Ret[0].Ret)
	out, err := probeABI.Unpack(method, ext.ConstantResult[0])
	require.NoError(e.t, err)
	require.Len(e.t, out, 1)
	return out[0]
}

// freshKey returns a key with no account yet.
func freshKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	require.NoError(t, err)
	return k
}
