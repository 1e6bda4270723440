package devnet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/holiman/uint256"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
)

// blockMillis is BlockTime in milliseconds, the unit of TRON timestamps.
const blockMillis = int64(BlockTime / time.Millisecond)

// The bandwidth usage window: java-tron's 24 h in 3 s slots, and the fixed
// point its increase() computes in.
const (
	usageWindow    = int64(24 * time.Hour / BlockTime)
	usagePrecision = 1_000_000
)

// genesisParent is the parent hash of the devnet's genesis block, which
// fixes its id and so the default chain id.
var genesisParent = sha256.Sum256([]byte("bttspeed devnet genesis v1"))

// account is what the node keeps of a TRON account besides its balance (in
// the EVM state).
type account struct {
	createTime int64 // ms
	// freeNetUsage and freeNetSlot are java-tron's free_net_usage and
	// latest_consume_free_time (in slots): the free bandwidth used, as of
	// that slot.
	freeNetUsage int64
	freeNetSlot  int64
}

// block is a mined block with its transactions (ret filled in) and their
// receipts.
type block struct {
	header *core.BlockHeader
	id     [32]byte
	txs    []*core.Transaction
	txids  [][32]byte
	infos  []*core.TransactionInfo
	// snap is the state as of this block, kept while it is not
	// solidified and a block was mined on it (Config.SolidLag > 0).
	snap *snapshot
}

func (b *block) number() int64    { return b.header.RawData.Number }
func (b *block) timestamp() int64 { return b.header.RawData.Timestamp }

// txLoc is where an included transaction is.
type txLoc struct{ block, index int64 }

// pendingTx is a broadcast transaction waiting for a block.
type pendingTx struct {
	tx *core.Transaction
	id [32]byte
}

// blockCtx is the block a transaction executes in.
type blockCtx struct {
	number int64
	ts     int64 // ms
}

func (b blockCtx) slot() int64 { return b.ts / blockMillis }

// chain is the node's state. It is not safe for concurrent use: Node
// serializes every access with its mutex.
type chain struct {
	cfg       Config
	evmConfig *params.ChainConfig
	chainID   uint64
	state     *state.StateDB
	accounts  map[btt.Address]*account
	contracts map[btt.Address]*core.SmartContract
	blocks    []*block
	included  map[[32]byte]txLoc
	pending   []pendingTx
	pendingID map[[32]byte]struct{}
	witness   btt.Address
	calls     uint64 // calls made outside transactions, for callHash
	// solid is the latest solidified block's number: Config.SolidLag
	// behind the head, never going back.
	solid int64

	// The clock: clockBase, plus the wall time since realStart when the
	// clock follows the wall clock (realStart not zero).
	clockBase  time.Time
	realStart  time.Time
	delayUntil time.Time
}

// newChain makes the genesis state: the funded accounts and the genesis
// block. No block is mined yet.
func newChain(cfg Config, funded []btt.Address, operator btt.Address) (*chain, error) {
	sdb, err := state.New(types.EmptyRootHash, state.NewDatabaseForTesting())
	if err != nil {
		return nil, fmt.Errorf("devnet: state: %w", err)
	}
	raw := &core.BlockHeaderRaw{ParentHash: genesisParent[:]}
	id := blockID(raw)
	if cfg.ChainID != 0 {
		binary.BigEndian.PutUint32(id[28:], cfg.ChainID)
	}
	chainID := uint64(binary.BigEndian.Uint32(id[28:]))
	zero := big.NewInt(0)
	c := &chain{
		cfg: cfg,
		evmConfig: &params.ChainConfig{
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
		},
		chainID:   chainID,
		state:     sdb,
		accounts:  make(map[btt.Address]*account),
		contracts: make(map[btt.Address]*core.SmartContract),
		blocks:    []*block{{header: &core.BlockHeader{RawData: raw}, id: id}},
		included:  make(map[[32]byte]txLoc),
		pendingID: make(map[[32]byte]struct{}),
		witness:   operator,
		clockBase: cfg.GenesisTime,
	}
	if cfg.BlockInterval > 0 {
		c.realStart = time.Now()
	}
	for _, a := range funded {
		c.fund(a, cfg.AccountTRX)
	}
	// The operator pays for the deployments and never runs dry.
	c.fund(operator, math.MaxInt64/2)
	c.finalise()
	return c, nil
}

// blockID is a block's id: its number (8 bytes) then the last 24 bytes of
// sha256 of its raw header.
func blockID(raw *core.BlockHeaderRaw) [32]byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(raw)
	if err != nil {
		panic(fmt.Sprintf("devnet: marshal block header: %v", err)) // cannot happen: a plain message
	}
	id := sha256.Sum256(b)
	binary.BigEndian.PutUint64(id[:8], uint64(raw.Number))
	return id
}

// txID is a transaction's id: sha256 of its raw data.
func txID(raw *core.TransactionRaw) ([32]byte, error) {
	b, err := proto.Marshal(raw)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// contractAddress is the address of the contract deployed by owner in the
// transaction with id txid.
func contractAddress(txid [32]byte, owner btt.Address) btt.Address {
	h := crypto.Keccak256(txid[:], owner[:])
	return btt.AddressFromEVM([20]byte(h[12:]))
}

// fund creates the account if needed and adds sun to its balance.
func (c *chain) fund(a btt.Address, sun int64) {
	if c.accounts[a] == nil {
		c.accounts[a] = &account{createTime: c.now().UnixMilli()}
	}
	c.state.AddBalance(evmAddr(a), uint256.NewInt(uint64(sun)), tracing.BalanceChangeUnspecified)
}

// finalise ends a state transition (journal, refunds, empty accounts).
func (c *chain) finalise() {
	c.state.Finalise(c.evmConfig.Rules(new(big.Int), false, 0))
}

// balance is an account's TRX balance in sun.
func (c *chain) balance(a btt.Address) int64 {
	b := c.state.GetBalance(evmAddr(a))
	if !b.IsUint64() || b.Uint64() > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(b.Uint64())
}

// burn takes sun from an account's balance (fees are burned).
func (c *chain) burn(a btt.Address, sun int64) {
	if sun > 0 {
		c.state.SubBalance(evmAddr(a), uint256.NewInt(uint64(sun)), tracing.BalanceDecreaseGasBuy)
	}
}

// isContract reports whether there is code at a.
func (c *chain) isContract(a btt.Address) bool {
	return c.state.GetCodeSize(evmAddr(a)) > 0
}

// exists reports whether a is a TRON account: funded, created by a
// transfer, or a contract (contracts created by contracts included).
func (c *chain) exists(a btt.Address) bool {
	return c.accounts[a] != nil || c.isContract(a)
}

func (c *chain) head() *block { return c.blocks[len(c.blocks)-1] }

// now is the chain clock. It is never behind the head block.
func (c *chain) now() time.Time {
	t := c.clockBase
	if !c.realStart.IsZero() {
		t = t.Add(time.Since(c.realStart))
	}
	return t
}

// delayed reports whether SetBlockDelay still holds blocks back.
func (c *chain) delayed() bool {
	return !c.delayUntil.IsZero() && c.now().Before(c.delayUntil)
}

// nextBlockTime is the timestamp the next block gets: the later of the
// head's plus 3 s and the clock rounded down to a slot.
func (c *chain) nextBlockTime() int64 {
	t := c.now().UnixMilli()
	t -= t % blockMillis
	return max(c.head().timestamp()+blockMillis, t)
}

// mineNext mines the pending transactions into a block at nextBlockTime.
func (c *chain) mineNext() *block { return c.mine(c.nextBlockTime()) }

// mine makes a block at ts with the pending transactions that still
// validate (those that do not are dropped, as java-tron drops them) and
// moves the clock up to ts if it was behind.
func (c *chain) mine(ts int64) *block {
	c.beforeMine()
	prev := c.head()
	ctx := blockCtx{number: prev.number() + 1, ts: ts}
	b := &block{}
	for _, p := range c.pending {
		pre, err := c.check(p.tx, p.id, &ctx)
		if err != nil {
			continue
		}
		info, ret := c.execute(pre, ctx, len(b.txs))
		stored := proto.Clone(p.tx).(*core.Transaction)
		stored.Ret = []*core.Transaction_Result{{ContractRet: ret}}
		b.txs = append(b.txs, stored)
		b.txids = append(b.txids, p.id)
		b.infos = append(b.infos, info)
	}
	c.pending = nil
	clear(c.pendingID)
	raw := &core.BlockHeaderRaw{
		Timestamp:      ts,
		TxTrieRoot:     merkleRoot(b.txs),
		ParentHash:     bytes.Clone(prev.id[:]),
		Number:         ctx.number,
		WitnessAddress: bytes.Clone(c.witness[:]),
		Version:        32,
	}
	b.header = &core.BlockHeader{RawData: raw}
	b.id = blockID(raw)
	for i, id := range b.txids {
		c.included[id] = txLoc{block: ctx.number, index: int64(i)}
	}
	c.blocks = append(c.blocks, b)
	c.afterMine()
	if now := c.now(); time.UnixMilli(ts).After(now) {
		c.clockBase = c.clockBase.Add(time.UnixMilli(ts).Sub(now))
	}
	return b
}

// merkleRoot is the transactions' merkle root as java-tron computes it:
// leaves are sha256 of each serialized transaction, pairs hash together,
// an odd one out moves up unchanged; no transactions give a zero hash.
func merkleRoot(txs []*core.Transaction) []byte {
	if len(txs) == 0 {
		return make([]byte, 32)
	}
	level := make([][32]byte, len(txs))
	for i, tx := range txs {
		b, _ := proto.Marshal(tx) // re-marshals what was unmarshaled: cannot fail
		level[i] = sha256.Sum256(b)
	}
	for len(level) > 1 {
		next := level[:0:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				continue
			}
			next = append(next, sha256.Sum256(append(level[i][:], level[i+1][:]...)))
		}
		level = next
	}
	return level[0][:]
}

// tapos reports whether raw's ref_block_bytes and ref_block_hash name one
// of the last 65,536 blocks.
func (c *chain) tapos(raw *core.TransactionRaw) bool {
	if len(raw.RefBlockBytes) != 2 || len(raw.RefBlockHash) != 8 {
		return false
	}
	head := c.head().number()
	n := head&^0xffff | int64(binary.BigEndian.Uint16(raw.RefBlockBytes))
	if n > head {
		n -= 0x10000
	}
	if n < 0 {
		return false
	}
	id := c.blocks[n].id
	return bytes.Equal(id[8:16], raw.RefBlockHash)
}

// increase is java-tron's ResourceProcessor.increase: usage decays
// linearly to zero over the window, and usage is added at now.
func increase(lastUsage, usage, lastTime, now int64) int64 {
	averageLast := divideCeil(lastUsage*usagePrecision, usageWindow)
	average := divideCeil(usage*usagePrecision, usageWindow)
	if lastTime != now {
		if lastTime+usageWindow > now {
			delta := now - lastTime
			decay := float64(usageWindow-delta) / float64(usageWindow)
			averageLast = int64(math.Round(float64(averageLast) * decay))
		} else {
			averageLast = 0
		}
	}
	averageLast += average
	return averageLast * usageWindow / usagePrecision
}

func divideCeil(n, d int64) int64 {
	q := n / d
	if n%d > 0 {
		q++
	}
	return q
}

// freeNetUsed is an account's free bandwidth in use at slot.
func (a *account) freeNetUsed(slot int64) int64 {
	return increase(a.freeNetUsage, 0, a.freeNetSlot, slot)
}

// useFreeNet records bytes of free bandwidth used at slot.
func (a *account) useFreeNet(bytes, slot int64) {
	used := a.freeNetUsed(slot)
	a.freeNetSlot = slot
	a.freeNetUsage = increase(used, bytes, slot, slot)
}

// evmAddr is the 20-byte address the EVM sees.
func evmAddr(a btt.Address) common.Address { return common.Address(a.EVM()) }
