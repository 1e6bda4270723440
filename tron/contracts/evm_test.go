package contracts

// The test harness: go-ethereum's EVM over an in-memory state, configured
// at the London fork (the evmVersion the contracts are compiled for, so
// PUSH0 and later opcodes would fail), with a clock the tests move.

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
	"github.com/stretchr/testify/require"
)

// tronMainnetChainID is block.chainid on TRON mainnet (the last 4 bytes of
// the genesis block id).
const tronMainnetChainID = 0x2b6653dc

// txGasLimit is the gas every test transaction may use.
const txGasLimit = 10_000_000

// evmChain is one in-memory chain: state, chain id, block number and time.
type evmChain struct {
	t      testing.TB
	config *params.ChainConfig
	state  *state.StateDB
	now    uint64
	number uint64
	txs    int
}

func newEVMChain(t testing.TB, chainID uint64) *evmChain {
	t.Helper()
	sdb, err := state.New(types.EmptyRootHash, state.NewDatabaseForTesting())
	require.NoError(t, err)
	zero := big.NewInt(0)
	cfg := &params.ChainConfig{
		ChainID:             new(big.Int).SetUint64(chainID),
		HomesteadBlock:      zero,
		EIP150Block:         zero,
		EIP155Block:         zero,
		EIP158Block:         zero,
		ByzantiumBlock:      zero,
		ConstantinopleBlock: zero,
		PetersburgBlock:     zero,
		IstanbulBlock:       zero,
		MuirGlacierBlock:    zero,
		BerlinBlock:         zero,
		LondonBlock:         zero,
	}
	return &evmChain{t: t, config: cfg, state: sdb, now: 1_700_000_000, number: 1}
}

// advance moves the clock by secs seconds and mines a block per 3 s.
func (c *evmChain) advance(secs uint64) {
	c.now += secs
	c.number += secs/3 + 1
}

func (c *evmChain) rules() params.Rules {
	return c.config.Rules(new(big.Int).SetUint64(c.number), false, c.now)
}

func (c *evmChain) newEVM(origin common.Address) *vm.EVM {
	bc := vm.BlockContext{
		CanTransfer: func(db vm.StateDB, addr common.Address, amount *uint256.Int) bool {
			return db.GetBalance(addr).Cmp(amount) >= 0
		},
		Transfer: func(db vm.StateDB, from, to common.Address, amount *uint256.Int, _ *params.Rules) {
			db.SubBalance(from, amount, tracing.BalanceChangeTransfer)
			db.AddBalance(to, amount, tracing.BalanceChangeTransfer)
		},
		GetHash:     func(n uint64) common.Hash { return crypto.Keccak256Hash(new(big.Int).SetUint64(n).Bytes()) },
		Coinbase:    common.Address{0xc0},
		GasLimit:    30_000_000,
		BlockNumber: new(big.Int).SetUint64(c.number),
		Time:        c.now,
		Difficulty:  big.NewInt(1),
		BaseFee:     big.NewInt(0),
	}
	evm := vm.NewEVM(bc, c.state, c.config, vm.Config{})
	evm.SetTxContext(vm.TxContext{Origin: origin, GasPrice: uint256.NewInt(0)})
	return evm
}

// txResult is the outcome of one transaction or call.
type txResult struct {
	Ret []byte
	Err error
	// Revert is the decoded revert reason when Err is a revert.
	Revert string
	// Gas is the execution gas used (London schedule), without the
	// transaction's intrinsic gas and before refunds.
	Gas uint64
	// TxGas is what the whole transaction would cost on Ethereum: intrinsic
	// gas (21000, 32000 more for a create, calldata) plus Gas, less the
	// refund London allows (at most a fifth).
	TxGas uint64
	Logs  []*types.Log
}

func (r txResult) ok() bool { return r.Err == nil }

// intrinsicGas is Ethereum's (London) intrinsic gas of a transaction.
func intrinsicGas(data []byte, create bool) uint64 {
	g := params.TxGas
	if create {
		g = params.TxGasContractCreation
	}
	for _, b := range data {
		if b == 0 {
			g += params.TxDataZeroGas
		} else {
			g += params.TxDataNonZeroGasEIP2028
		}
	}
	return g
}

// exec runs one transaction from `from`: a call to *to, or a create when to
// is nil. A revert rolls its state back, logs included.
func (c *evmChain) exec(from common.Address, to *common.Address, data []byte) (common.Address, txResult) {
	c.t.Helper()
	c.txs++
	txHash := crypto.Keccak256Hash(big.NewInt(int64(c.txs)).Bytes())
	rules := c.rules()
	c.state.SetTxContext(txHash, c.txs, 0)
	c.state.Prepare(rules, from, common.Address{0xc0}, to, vm.ActivePrecompiles(rules), nil)
	evm := c.newEVM(from)
	budget := vm.NewGasBudget(txGasLimit, 0)
	var (
		res     txResult
		created common.Address
		left    vm.GasBudget
	)
	if to == nil {
		res.Ret, created, left, res.Err = evm.Create(from, data, budget, uint256.NewInt(0))
	} else {
		res.Ret, left, res.Err = evm.Call(from, *to, data, budget, uint256.NewInt(0))
	}
	res.Gas = budget.ExecutionGas - left.ExecutionGas
	used := intrinsicGas(data, to == nil) + res.Gas
	res.TxGas = used - min(c.state.GetRefund(), used/params.RefundQuotientEIP3529)
	if errors.Is(res.Err, vm.ErrExecutionReverted) && len(res.Ret) > 0 { // empty: the ABI decoder's refusal
		reason, err := abi.UnpackRevert(res.Ret)
		require.NoError(c.t, err, "revert data %x", res.Ret)
		res.Revert = reason
	}
	res.Logs = c.state.GetLogs(txHash, c.number, common.Hash{}, c.now)
	c.state.Finalise(rules)
	return created, res
}

// deploy creates a contract and requires it to succeed.
func (c *evmChain) deploy(from common.Address, code []byte) (common.Address, txResult) {
	c.t.Helper()
	addr, res := c.exec(from, nil, code)
	require.NoError(c.t, res.Err, "deploy reverted: %q", res.Revert)
	require.NotEmpty(c.t, c.state.GetCode(addr), "deploy left no code")
	return addr, res
}

// send runs a transaction calling `to`.
func (c *evmChain) send(from, to common.Address, data []byte) txResult {
	c.t.Helper()
	_, res := c.exec(from, &to, data)
	return res
}

// view runs a read-only call (STATICCALL: no state may change).
func (c *evmChain) view(to common.Address, data []byte) txResult {
	c.t.Helper()
	rules := c.rules()
	c.state.Prepare(rules, common.Address{}, common.Address{0xc0}, &to, vm.ActivePrecompiles(rules), nil)
	evm := c.newEVM(common.Address{})
	budget := vm.NewGasBudget(txGasLimit, 0)
	var res txResult
	var left vm.GasBudget
	res.Ret, left, res.Err = evm.StaticCall(common.Address{}, to, data, budget)
	res.Gas = budget.ExecutionGas - left.ExecutionGas
	if errors.Is(res.Err, vm.ErrExecutionReverted) {
		reason, err := abi.UnpackRevert(res.Ret)
		require.NoError(c.t, err, "revert data %x", res.Ret)
		res.Revert = reason
	}
	c.state.Finalise(rules)
	return res
}

// pack ABI-encodes a call and fails the test if the arguments do not fit.
func pack(t testing.TB, a abi.ABI, method string, args ...any) []byte {
	t.Helper()
	data, err := a.Pack(method, args...)
	require.NoError(t, err, "pack %s", method)
	return data
}

// unpack decodes a call's return values.
func unpack(t testing.TB, a abi.ABI, method string, ret []byte) []any {
	t.Helper()
	out, err := a.Unpack(method, ret)
	require.NoError(t, err, "unpack %s", method)
	return out
}

// event is a decoded log: the event's name and every argument by name,
// uint256 arguments as decimal strings.
type event struct {
	Name string
	Args map[string]any
}

// decodeEvents decodes the logs that `emitter` emitted with a's events.
func decodeEvents(t testing.TB, a abi.ABI, emitter common.Address, logs []*types.Log) []event {
	t.Helper()
	var out []event
	for _, l := range logs {
		if l.Address != emitter {
			continue
		}
		require.NotEmpty(t, l.Topics, "anonymous log")
		ev, err := a.EventByID(l.Topics[0])
		require.NoError(t, err)
		args := make(map[string]any)
		require.NoError(t, ev.Inputs.NonIndexed().UnpackIntoMap(args, l.Data))
		var indexed abi.Arguments
		for _, in := range ev.Inputs {
			if in.Indexed {
				indexed = append(indexed, in)
			}
		}
		require.NoError(t, abi.ParseTopicsIntoMap(args, indexed, l.Topics[1:]))
		for k, v := range args {
			if b, ok := v.(*big.Int); ok {
				args[k] = b.String()
			}
		}
		out = append(out, event{Name: ev.Name, Args: args})
	}
	return out
}
