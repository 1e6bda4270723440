// Package devnet is an in-process TRON node for tests and for the examples'
// default chain: a gRPC server on a 127.0.0.1 port that speaks TRON's
// Wallet API (the RPCs gotron-sdk's client uses) and executes contracts in
// go-ethereum's EVM, with TRON's addresses, transaction ids, signatures,
// resources and receipts.
//
//	node, err := devnet.Start(ctx, devnet.Config{Seed: "test", DeployContracts: true})
//	...
//	defer node.Close()
//	c := client.NewGrpcClient(node.Addr())
//	err = c.Start(client.GRPCInsecure())
//
// # What it implements
//
// GetNowBlock(2), GetBlockByNum(2), GetBlockById, GetBlockByLatestNum2,
// GetAccount, GetAccountNet, GetAccountResource, CreateTransaction2 (TRX
// transfers), DeployContract, TriggerContract, TriggerConstantContract,
// EstimateEnergy, BroadcastTransaction, GetTransactionById,
// GetTransactionInfoById, GetTransactionInfoByBlockNum, GetContract,
// GetContractInfo, GetChainParameters, GetEnergyPrices and
// GetBandwidthPrices; and, on the same port, the WalletSolidity service
// (what java-tron serves on its solidity port, 50061): GetNowBlock(2),
// GetBlockByNum(2), GetTransactionById, GetTransactionInfoById,
// GetTransactionInfoByBlockNum, GetAccount and TriggerConstantContract, all
// as of the solidified block (see Finality). Every other RPC answers
// codes.Unimplemented.
//
// Transactions: the id is sha256 of the serialized raw_data; exactly one
// contract (TransferContract, CreateSmartContract or TriggerSmartContract)
// and exactly one 65-byte secp256k1 signature over the id, which must
// recover the contract's owner_address (permission 0 only, no multi-sig).
// Broadcasts are checked as java-tron checks them and refused with its
// codes and messages: SIGERROR, DUP_TRANSACTION_ERROR ("Transaction already
// exists."), TAPOS_ERROR (ref_block_bytes/ref_block_hash must name one of
// the last 65,536 blocks), TRANSACTION_EXPIRATION_ERROR (expiration must be
// after the head block's time and at most 24 h past it),
// TOO_BIG_TRANSACTION_ERROR, BANDWITH_ERROR ("Account resource insufficient
// error.") and CONTRACT_VALIDATE_ERROR ("Contract validate error : ...").
// The node builds transactions the way java-tron does: reference to the
// head block, expiration 60 s after the head block's time, timestamp from
// the chain clock.
//
// Contracts: a new contract's address is 0x41 followed by the last 20
// bytes of keccak256(txid || owner_address) (java-tron's
// WalletUtil.generateContractAddress); the EVM sees the 20 bytes without
// 0x41. block.chainid is the last 4 bytes of the genesis block id
// (Config.ChainID overrides it); block.timestamp is the block's time in
// seconds; block.number its height. The EVM runs go-ethereum's London
// rules, the evmVersion the contracts are compiled for. Sending TRX to a
// contract (call_value) and TRC-10 token values are not supported and are
// refused with CONTRACT_VALIDATE_ERROR. Contracts that create contracts get
// go-ethereum's CREATE and CREATE2 addresses, not TVM's (which hash a
// 0x41 prefix and the transaction id); neither contract here does.
//
// Receipts follow java-tron: TransactionInfo carries id, fee, blockNumber,
// blockTimeStamp, contractResult, contract_address (deployments), the
// receipt (energy_usage_total, energy_fee, net_usage or net_fee, result) and
// the logs with 20-byte addresses; a failed contract call has result FAILED
// and resMessage ("REVERT opcode executed" for a revert, whose reason is in
// contractResult; "Not enough energy for '<OP>' operation executing: ..."
// for OUT_OF_ENERGY). A constant call that reverts answers as java-tron
// does: Result{result: true, code: SUCCESS, message: "REVERT opcode
// executed"}, the revert data in constant_result and the transaction's
// ret[0].ret FAILED, so clients must look at those and not only at
// Result.result. A constant call that cannot run at all (no contract,
// call_value) answers Result{result: false, code: CONTRACT_VALIDATE_ERROR}.
// A constant call without a contract address simulates a deployment, as
// java-tron 4.7.1 and later do: its data (creation code and constructor
// arguments) runs as a deployment by the owner and is undone; energy_used
// is what the deployment would use, constant_result the runtime code.
//
// # Resources and fees
//
// Bandwidth: a transaction uses its serialized size without ret, plus 64
// bytes, as java-tron counts it. Each account has Config.FreeBandwidth bytes
// a day for free, recovering linearly over 24 h (java-tron's usage window);
// a transaction that does not fit in what is left pays Config.BandwidthPrice
// sun per byte for all its bytes, burned. An account that cannot pay is
// refused at broadcast with BANDWITH_ERROR. A TRX transfer that creates its
// recipient's account pays Config.CreateAccountFee instead of bandwidth and
// Config.CreateAccountSystemFee on top of the amount, as on mainnet. A
// transaction with a memo (raw_data.data) pays Config.MemoFee (1 TRX, as
// mainnet's getMemoFee) on top, its bytes counted in its bandwidth; an
// account that cannot pay is refused with BANDWITH_ERROR. There is no
// staking: no frozen bandwidth or energy, no delegation.
//
// Energy: a contract transaction's energy is the gas go-ethereum's EVM
// spends executing it (no 21,000 intrinsic gas and no calldata gas, as on
// TRON; London refunds, capped at a fifth), priced at Config.EnergyPrice
// sun. The energy limit is min(fee_limit, balance left after bandwidth) /
// EnergyPrice: a transaction that needs more fails with OUT_OF_ENERGY, its
// state changes undone, and pays for the whole limit (fee_limit rounded
// down to whole energy when fee_limit is the smaller). A revert pays for the
// energy used up to the revert. fee_limit must be in [0, 15,000 TRX]. The
// owner pays all the energy whatever consume_user_resource_percent says (an
// origin without frozen energy pays nothing on TRON either). Constant calls
// are free and may use up to 100,000,000 energy.
//
// # Blocks and the clock
//
// Blocks are 3 s apart in chain time: a block's timestamp is the later of
// the previous block's plus 3 s and the chain clock (rounded down to a
// multiple of 3 s). The genesis block has timestamp 0, like mainnet's;
// block 1 is mined at Config.GenesisTime when the node starts, so Start
// returns a chain whose head is at the clock.
//
// By default (Config.BlockInterval == 0) the clock moves only when told
// to, and a broadcast transaction is mined at once into the next block,
// before BroadcastTransaction returns, so a test can ask for its receipt
// right away. A block mined ahead of the clock (several transactions within
// 3 s of chain time) moves the clock to its timestamp: Now is never behind
// the head block. Advance moves the clock and, when it passed the next
// slot, mines one block at the new time, with whatever is pending (an
// advance of a month is one block, as if every slot in between had been
// missed), so GetNowBlock and constant calls see the new time.
//
// With Config.BlockInterval > 0 the clock follows the wall clock (plus
// whatever Advance added) and a goroutine mines one block per interval,
// empty or not; broadcasts wait for it. An interval under 3 s makes chain
// time run faster than the wall clock.
//
// # Finality
//
// The solidified block is Config.SolidLag blocks behind the head (TRON's is
// about 19, under a minute); the blocks Start mines are solid. The
// WalletSolidity service answers from it: no receipt, block or state after
// it. By default SolidLag is 0 and every block is solid as it is mined, so
// a client that waits for solidity gets its receipt at once; with a lag and
// blocks on demand, the test mines the blocks (Advance). DropBlocks drops
// the last blocks above the solidified one, as a fork that won without
// them would: their transactions leave the chain (broadcasting the same
// signed bytes again works until they expire), the state goes back to the
// new head's, and the clock goes on. SolidHead is the solidified block.
//
// # Fault injection
//
// SetUnavailable makes every RPC answer codes.Unavailable; SetLatency
// delays every RPC (a caller's deadline still ends it); DropNext makes the
// next n broadcasts that would have been accepted answer SUCCESS and
// vanish: never mined, unknown to GetTransactionById and
// GetTransactionInfoById (broadcasting the same signed transaction again
// works); SetBlockDelay holds every block until the chain clock has moved
// past the delay (broadcasts are accepted and wait, as in a congested
// network). All are safe for concurrent use.
//
// # Accounts
//
// Config.Accounts keys are funded with Config.AccountTRX sun at genesis:
// derived from Config.Seed (key i is sha256("bttspeed/devnet/v1/" + seed +
// "/" + i) as a secp256k1 scalar), so the same seed gives the same
// addresses, or random when Seed is empty. With Config.DeployContracts the
// node deploys tron/contracts' TestToken and BttSpeedEscrow in block 1 from
// an operator key of its own (derived the same way with index "operator"),
// and mints Config.TokenMint to every funded key. FundTRX, MintTokens,
// TRXBalance and TokenBalance act on the state directly, for tests: no
// transaction, no block, no fee.
//
// These keys are throwaway devnet keys: never use them on a real chain.
//
// # Known gaps
//
// The devnet stands in for TRON in tests; where it differs, a test that
// depends on the difference says so, and tron's TestNile measures the real
// chain.
//
//   - Energy is go-ethereum's London gas, not TVM's energy. java-tron's
//     EnergyCost charges SLOAD 50, CALL 40, BALANCE and EXTCODESIZE 20,
//     EXTCODEHASH 400 and SSTORE 20,000 (set) or 5,000 (reset), with no
//     EIP-2929 cold and warm access costs; London charges a cold SLOAD
//     2,100 and a cold account 2,600, 100 warm, and its SSTORE costs and
//     refunds follow EIP-2200, 2929 and 3529. TRON's dynamic energy (a
//     busy contract's energy_factor) is not modelled. The escrow's calls,
//     mostly new storage slots at 20,000 either way, should cost energy of
//     the same order on both, but fee checks and fee limits that hold on the
//     devnet are not proof they hold on TRON. TestNile
//     logs TVM's energy for open, top-up, claim, close and reclaim beside
//     the devnet's.
//   - Permissions: only the owner permission (id 0) with one key; any
//     other permission id is refused with SIGERROR, and there is no
//     multi-signature or account permission update.
//   - One node: one witness, no peers, no maintenance periods or votes; a
//     fork is simulated only by DropBlocks.
//   - No staking (frozen bandwidth or energy, delegation), no TRX sent to
//     contracts (call_value), no TRC-10; contracts that create contracts
//     get go-ethereum's CREATE and CREATE2 addresses, not TVM's.
//   - Closed since: the memo fee (MemoFee), finality (SolidLag,
//     DropBlocks) and deployment simulation.
package devnet
