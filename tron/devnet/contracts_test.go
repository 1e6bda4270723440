package devnet

import (
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/fbsobreira/gotron-sdk/pkg/contract"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// call makes a constant call through gotron-sdk and unpacks the result.
func (e *env) call(a abi.ABI, to btt.Address, method string, args ...any) []any {
	e.t.Helper()
	data, err := a.Pack(method, args...)
	require.NoError(e.t, err)
	ext, err := e.c.TriggerConstantContractWithDataCtx(e.ctx, e.addr(0).String(), to.String(), data)
	require.NoError(e.t, err)
	require.True(e.t, ext.Result.Result, "%s: %s", method, ext.Result.Message)
	require.Equal(e.t, core.Transaction_Result_SUCESS, ext.Transaction.Ret[0].Ret, "%s reverted", method)
	out, err := a.Unpack(method, ext.ConstantResult[0])
	require.NoError(e.t, err)
	return out
}

func TestDeployContracts(t *testing.T) {
	e := newEnv(t, Config{DeployContracts: true, ChallengePeriod: 10 * time.Minute})
	token, escrow := e.node.Token(), e.node.Escrow()
	require.False(t, token.IsZero())
	require.False(t, escrow.IsZero())
	tokenABI, escrowABI := contracts.TokenABI(), contracts.EscrowABI()

	// Both in block 1, from the operator, with their ABIs.
	infos, err := e.c.GetBlockInfoByNumCtx(e.ctx, 1)
	require.NoError(t, err)
	require.Len(t, infos.TransactionInfo, 2)
	assert.Equal(t, token[:], infos.TransactionInfo[0].ContractAddress)
	assert.Equal(t, escrow[:], infos.TransactionInfo[1].ContractAddress)
	a, err := e.c.GetContractABICtx(e.ctx, escrow.String())
	require.NoError(t, err)
	assert.Len(t, a.Entrys, len(escrowABI.Methods)+len(escrowABI.Events)+len(escrowABI.Errors)+1)

	// The escrow's settings.
	assert.Equal(t, common.Address(token.EVM()), e.call(escrowABI, escrow, "token")[0])
	assert.Equal(t, uint64(600), e.call(escrowABI, escrow, "challengePeriod")[0])
	assert.Equal(t, 10*time.Minute, e.node.ChallengePeriod())

	// Every funded key got DefaultTokenMint; MintTokens adds.
	for i, k := range e.node.Accounts() {
		bal := e.call(tokenABI, token, "balanceOf", evmAddr(k))[0].(*big.Int)
		assert.Equal(t, DefaultTokenMint.Big(), bal, "key %d", i)
		assert.Equal(t, DefaultTokenMint, e.node.TokenBalance(k))
	}
	fresh := addressOf(freshKey(t))
	assert.True(t, e.node.TokenBalance(fresh).IsZero())
	require.NoError(t, e.node.MintTokens(fresh, btt.NewAmount(42)))
	assert.Equal(t, btt.NewAmount(42), e.node.TokenBalance(fresh))
	assert.Equal(t, big.NewInt(42), e.call(tokenABI, token, "balanceOf", evmAddr(fresh))[0])
	assert.Equal(t, "tBTT", e.call(tokenABI, token, "symbol")[0])

	// A constant call's logs are its own (the mint's are not among them).
	data, err := tokenABI.Pack("transfer", evmAddr(fresh), big.NewInt(1))
	require.NoError(t, err)
	ext, err := e.c.TriggerConstantContractWithDataCtx(e.ctx, e.addr(0).String(), token.String(), data)
	require.NoError(t, err)
	require.Len(t, ext.Logs, 1)
	assert.Equal(t, token.EVM(), [20]byte(ext.Logs[0].Address))
	assert.Equal(t, btt.NewAmount(42), e.node.TokenBalance(fresh), "a constant call changes nothing")

	// The contract's voucher digest is paychan's, with the devnet's chain
	// id and the escrow's address.
	v := paychan.Voucher{ChainID: e.node.ChainID(), Escrow: escrow, Channel: paychan.ChannelID{1, 2, 3}, Amount: btt.NewAmount(123456789)}
	got := e.call(escrowABI, escrow, "voucherDigest", [32]byte(v.Channel), v.Amount.Big())[0].([32]byte)
	assert.Equal(t, v.Digest(), got)

	// A real transaction against the token: a transfer, its Transfer event.
	data, err = tokenABI.Pack("transfer", evmAddr(e.addr(1)), big.NewInt(1000))
	require.NoError(t, err)
	ext, err = e.c.TriggerContractWithDataCtx(e.ctx, e.addr(0).String(), token.String(), data, 100*SunPerTRX, 0, "", 0)
	require.NoError(t, err)
	info := e.send(ext, e.node.Keys()[0])
	require.Equal(t, core.Transaction_Result_SUCCESS, info.Receipt.Result, string(info.ResMessage))
	require.Len(t, info.Log, 1)
	assert.Equal(t, tokenABI.Events["Transfer"].ID.Bytes(), info.Log[0].Topics[0])
	one, _ := DefaultTokenMint.Add(btt.NewAmount(1000))
	assert.Equal(t, one, e.node.TokenBalance(e.addr(1)))
}

func TestNoContracts(t *testing.T) {
	e := newEnv(t, Config{})
	assert.True(t, e.node.Token().IsZero())
	assert.True(t, e.node.Escrow().IsZero())
	assert.ErrorIs(t, e.node.MintTokens(e.addr(0), btt.NewAmount(1)), ErrNoToken)
	assert.True(t, e.node.TokenBalance(e.addr(0)).IsZero())
}

// TestProtoABI: the node's ABI conversion agrees with gotron-sdk's.
func TestProtoABI(t *testing.T) {
	for name, js := range map[string]string{"probe": probeABIJSON, "escrow": contracts.EscrowABIJSON(), "token": contracts.TokenABIJSON()} {
		t.Run(name, func(t *testing.T) {
			got, err := protoABI(js)
			require.NoError(t, err)
			want, err := contract.JSONtoABI(js)
			require.NoError(t, err)
			assert.True(t, proto.Equal(want, got), "got %v\nwant %v", got, want)
		})
	}
	_, err := protoABI(`[{"type":"bogus"}]`)
	assert.Error(t, err)
	_, err = protoABI(`{`)
	var syn *json.SyntaxError
	assert.ErrorAs(t, err, &syn)
}
