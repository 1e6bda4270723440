package devnet

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/holiman/uint256"

	"github.com/bttspeed/bttspeed/btt"
)

// revertMessage is java-tron's runtime error for a REVERT.
const revertMessage = "REVERT opcode executed"

// blockGasLimit is what GASLIMIT returns.
const blockGasLimit = 100_000_000

// execute applies a checked transaction in the block ctx: bandwidth, then
// the contract. It returns the receipt and the contract result.
func (c *chain) execute(p *prepared, ctx blockCtx, index int) (*core.TransactionInfo, core.Transaction_ResultContractResult) {
	receipt := &core.ResourceReceipt{}
	info := &core.TransactionInfo{
		Id:             p.id[:],
		BlockNumber:    ctx.number,
		BlockTimeStamp: ctx.ts,
		Receipt:        receipt,
	}
	if p.useFreeNet {
		c.accounts[p.owner].useFreeNet(p.netBytes, ctx.slot())
		receipt.NetUsage = p.netBytes
	} else {
		c.burn(p.owner, p.netFee)
		receipt.NetFee = p.netFee
	}
	c.burn(p.owner, p.memoFee)
	defer func() { info.Fee += p.memoFee }() // after the paths below set it
	defer c.finalise()

	if t := p.transfer; t != nil {
		c.burn(p.owner, t.Amount+p.systemFee)
		if p.createsAccount {
			c.accounts[p.target] = &account{createTime: ctx.ts}
		}
		c.state.AddBalance(evmAddr(p.target), uint256.NewInt(uint64(t.Amount)), tracing.BalanceChangeTransfer)
		info.Fee = p.netFee + p.systemFee
		info.ContractResult = [][]byte{{}}
		return info, core.Transaction_Result_SUCCESS
	}

	// Energy: what the fee limit and the balance left after bandwidth
	// pay for.
	feeLimit := p.tx.RawData.FeeLimit
	limit := uint64(min(feeLimit, c.balance(p.owner)) / c.cfg.EnergyPrice)
	var out vmOutcome
	if p.create != nil {
		out = c.runCreate(ctx, p.id, index, p.owner, p.target, p.create.NewContract.Bytecode, limit)
		info.ContractAddress = p.target[:]
	} else {
		out = c.runCall(ctx, p.id, index, p.owner, p.target, p.trigger.Data, limit)
	}
	energyFee := int64(out.used) * c.cfg.EnergyPrice
	c.burn(p.owner, energyFee)
	result := out.result()
	receipt.EnergyUsageTotal = int64(out.used)
	receipt.EnergyFee = energyFee
	receipt.Result = result
	info.Fee = p.netFee + energyFee
	info.ContractResult = [][]byte{out.ret}
	info.Log = out.logs
	if result != core.Transaction_Result_SUCCESS {
		info.Result = core.TransactionInfo_FAILED
		info.ResMessage = []byte(out.message(limit))
	} else if p.create != nil {
		nc := p.create.NewContract
		c.accounts[p.target] = &account{createTime: ctx.ts}
		c.contracts[p.target] = &core.SmartContract{
			OriginAddress:              p.owner[:],
			ContractAddress:            p.target[:],
			Abi:                        nc.Abi,
			Bytecode:                   nc.Bytecode,
			ConsumeUserResourcePercent: nc.ConsumeUserResourcePercent,
			Name:                       nc.Name,
			OriginEnergyLimit:          nc.OriginEnergyLimit,
			CodeHash:                   crypto.Keccak256(out.ret),
			TrxHash:                    p.id[:],
		}
	}
	return info, result
}

// vmOutcome is what an EVM run returned.
type vmOutcome struct {
	ret  []byte
	err  error
	used uint64 // energy, after refunds
	logs []*core.TransactionInfo_Log
	// fault describes the operation that ran out of energy, when err is
	// an out of energy.
	fault *faultInfo
}

type faultInfo struct {
	op        vm.OpCode
	cost, gas uint64
}

// outOfEnergy reports whether err is an out of energy.
func outOfEnergy(err error) bool {
	return errors.Is(err, vm.ErrOutOfGas) || errors.Is(err, vm.ErrCodeStoreOutOfGas) || errors.Is(err, vm.ErrGasUintOverflow)
}

// result maps the EVM's error to TRON's contract result.
func (o vmOutcome) result() core.Transaction_ResultContractResult {
	var (
		under *vm.ErrStackUnderflow
		over  *vm.ErrStackOverflow
		inv   *vm.ErrInvalidOpCode
	)
	switch err := o.err; {
	case err == nil:
		return core.Transaction_Result_SUCCESS
	case errors.Is(err, vm.ErrExecutionReverted):
		return core.Transaction_Result_REVERT
	case outOfEnergy(err):
		return core.Transaction_Result_OUT_OF_ENERGY
	case errors.Is(err, vm.ErrInvalidJump):
		return core.Transaction_Result_BAD_JUMP_DESTINATION
	case errors.As(err, &under):
		return core.Transaction_Result_STACK_TOO_SMALL
	case errors.As(err, &over):
		return core.Transaction_Result_STACK_TOO_LARGE
	case errors.As(err, &inv), errors.Is(err, vm.ErrWriteProtection), errors.Is(err, vm.ErrReturnDataOutOfBounds):
		return core.Transaction_Result_ILLEGAL_OPERATION
	case errors.Is(err, vm.ErrInsufficientBalance):
		return core.Transaction_Result_TRANSFER_FAILED
	case errors.Is(err, vm.ErrInvalidCode):
		return core.Transaction_Result_INVALID_CODE
	}
	return core.Transaction_Result_UNKNOWN
}

// message is java-tron's runtime error text for a failed run with the
// energy limit limit.
func (o vmOutcome) message(limit uint64) string {
	switch {
	case o.err == nil:
		return ""
	case errors.Is(o.err, vm.ErrExecutionReverted):
		return revertMessage
	case outOfEnergy(o.err) && o.fault != nil:
		return fmt.Sprintf("Not enough energy for '%s' operation executing: curInvokeEnergyLimit[%d], curOpEnergy[%d], usedEnergy[%d]",
			o.fault.op, limit, o.fault.cost, limit-o.fault.gas)
	case outOfEnergy(o.err):
		return fmt.Sprintf("Not enough energy: energy limit %d", limit)
	}
	return o.err.Error()
}

// newEVM returns an EVM over the chain's state in block ctx, with tracer
// when not nil.
func (c *chain) newEVM(ctx blockCtx, origin btt.Address, tracer *tracing.Hooks) *vm.EVM {
	bc := vm.BlockContext{
		CanTransfer: func(db vm.StateDB, addr common.Address, amount *uint256.Int) bool {
			return db.GetBalance(addr).Cmp(amount) >= 0
		},
		Transfer: func(db vm.StateDB, from, to common.Address, amount *uint256.Int, _ *params.Rules) {
			db.SubBalance(from, amount, tracing.BalanceChangeTransfer)
			db.AddBalance(to, amount, tracing.BalanceChangeTransfer)
		},
		GetHash: func(n uint64) common.Hash {
			if n < uint64(len(c.blocks)) {
				return common.Hash(c.blocks[n].id)
			}
			return common.Hash{}
		},
		Coinbase:    evmAddr(c.witness),
		GasLimit:    blockGasLimit,
		BlockNumber: big.NewInt(ctx.number),
		Time:        uint64(ctx.ts / 1000),
		Difficulty:  new(big.Int),
		BaseFee:     new(big.Int),
	}
	evm := vm.NewEVM(bc, c.state, c.evmConfig, vm.Config{Tracer: tracer})
	evm.SetTxContext(vm.TxContext{Origin: evmAddr(origin), GasPrice: uint256.NewInt(0)})
	return evm
}

// faultTracer records the last operation that failed.
func faultTracer(f **faultInfo) *tracing.Hooks {
	record := func(op byte, gas, cost tracing.Gas) {
		*f = &faultInfo{op: vm.OpCode(op), gas: gas.Execution, cost: cost.Execution}
	}
	return &tracing.Hooks{
		OnOpcodeV2: func(pc uint64, op byte, gas, cost tracing.Gas, scope tracing.OpContext, rData []byte, depth int, err error) {
			if err != nil {
				record(op, gas, cost)
			}
		},
		OnFaultV2: func(pc uint64, op byte, gas, cost tracing.Gas, scope tracing.OpContext, depth int, err error) {
			record(op, gas, cost)
		},
	}
}

// runCall runs a call of to by from with data and limit energy, in a
// transaction with id thash.
func (c *chain) runCall(ctx blockCtx, thash [32]byte, index int, from, to btt.Address, data []byte, limit uint64) vmOutcome {
	run := func(tracer *tracing.Hooks) vmOutcome {
		evm := c.newEVM(ctx, from, tracer)
		rules := evm.GetRules()
		target := evmAddr(to)
		c.state.SetTxContext(common.Hash(thash), index, 0)
		c.state.Prepare(rules, evmAddr(from), evm.Context.Coinbase, &target, vm.ActivePrecompiles(rules), nil)
		ret, left, err := evm.Call(evmAddr(from), target, data, vm.NewGasBudget(limit, 0), uint256.NewInt(0))
		return c.outcome(ret, err, limit, left, thash)
	}
	return c.runTraced(run)
}

// runCreate deploys code at addr (TRON's address, not CREATE's) for from
// with limit energy, as evm.Create would.
func (c *chain) runCreate(ctx blockCtx, thash [32]byte, index int, from, addr btt.Address, code []byte, limit uint64) vmOutcome {
	run := func(tracer *tracing.Hooks) vmOutcome {
		evm := c.newEVM(ctx, from, tracer)
		rules := evm.GetRules()
		target := evmAddr(addr)
		c.state.SetTxContext(common.Hash(thash), index, 0)
		c.state.Prepare(rules, evmAddr(from), evm.Context.Coinbase, nil, vm.ActivePrecompiles(rules), nil)
		c.state.AddAddressToAccessList(target)
		snapshot := c.state.Snapshot()
		if !c.state.Exist(target) {
			c.state.CreateAccount(target)
		}
		c.state.CreateContract(target)
		c.state.SetNonce(target, 1, tracing.NonceChangeNewContract)
		contract := vm.NewContract(evmAddr(from), target, uint256.NewInt(0), vm.NewGasBudget(limit, 0), nil)
		contract.SetCallCode(common.Hash{}, code)
		contract.IsDeployment = true
		ret, err := evm.Run(contract, nil, false)
		if err == nil {
			switch {
			case len(ret) > 0 && ret[0] == 0xEF:
				err = vm.ErrInvalidCode
			case !chargeExecution(&contract.Gas, uint64(len(ret))*params.CreateDataGas):
				err = vm.ErrCodeStoreOutOfGas
			default:
				err = vm.CheckMaxCodeSize(&rules, uint64(len(ret)))
			}
		}
		left := contract.Gas
		if err != nil {
			c.state.RevertToSnapshot(snapshot)
			left = left.Exit(err)
		} else if len(ret) > 0 {
			c.state.SetCode(target, ret, tracing.CodeChangeContractCreation)
		}
		return c.outcome(ret, err, limit, left, thash)
	}
	return c.runTraced(run)
}

func chargeExecution(g *vm.GasBudget, cost uint64) bool {
	_, ok := g.ChargeExecution(cost)
	return ok
}

// runTraced runs run, and when it ran out of energy runs it again with a
// tracer to find the operation that did, for the receipt's message. The
// first run, which failed, changed nothing.
func (c *chain) runTraced(run func(*tracing.Hooks) vmOutcome) vmOutcome {
	snapshot := c.state.Snapshot()
	out := run(nil)
	if !outOfEnergy(out.err) {
		return out
	}
	c.state.RevertToSnapshot(snapshot)
	var fault *faultInfo
	again := run(faultTracer(&fault))
	again.fault = fault
	return again
}

// outcome totals a run: energy used after refunds, and the logs.
func (c *chain) outcome(ret []byte, err error, limit uint64, left vm.GasBudget, thash [32]byte) vmOutcome {
	used := limit - left.ExecutionGas
	if err == nil {
		used -= min(c.state.GetRefund(), used/params.RefundQuotientEIP3529)
	}
	out := vmOutcome{ret: ret, err: err, used: used}
	for _, l := range c.state.GetLogs(common.Hash(thash), 0, common.Hash{}, 0) {
		topics := make([][]byte, len(l.Topics))
		for i, t := range l.Topics {
			topics[i] = t.Bytes()
		}
		out.logs = append(out.logs, &core.TransactionInfo_Log{Address: l.Address.Bytes(), Topics: topics, Data: l.Data})
	}
	return out
}

// constantCall runs a call against the head block and undoes it.
func (c *chain) constantCall(from, to btt.Address, data []byte, limit uint64) vmOutcome {
	head := c.head()
	snapshot := c.state.Snapshot()
	defer c.state.RevertToSnapshot(snapshot)
	return c.runCall(blockCtx{number: head.number(), ts: head.timestamp()}, c.callHash(), 0, from, to, data, limit)
}

// callHash names a call made outside any transaction, so that its logs
// are its own.
func (c *chain) callHash() [32]byte {
	c.calls++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], c.calls)
	return sha256.Sum256(append([]byte("bttspeed devnet call "), b[:]...))
}

// estimateEnergy finds the least energy limit with which the call
// succeeds, as java-tron's EstimateEnergy does (a binary search).
func (c *chain) estimateEnergy(from, to btt.Address, data []byte) (uint64, vmOutcome) {
	out := c.constantCall(from, to, data, MaxConstantEnergy)
	if out.err != nil {
		return 0, out
	}
	lo, hi := out.used-1, out.used // lo fails (or is below what was used), hi succeeds?
	for hi < MaxConstantEnergy && c.constantCall(from, to, data, hi).err != nil {
		lo, hi = hi, min(2*hi, MaxConstantEnergy)
	}
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		if c.constantCall(from, to, data, mid).err == nil {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, out
}
