// Package bttcdev runs a development EVM chain in process — go-ethereum's
// own node with a simulated beacon, the chain `geth --dev` runs — and
// serves its JSON-RPC over HTTP on 127.0.0.1, so that bttc's tests and the
// examples' devnet talk to a real EVM through the real RPC: real
// receipts, real nonces, real EIP-1559 fees. Blocks are mined when a
// transaction arrives (Period 0) or every Period seconds; Commit mines one
// on demand and AdjustTime moves the chain's clock.
package bttcdev

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

// DefaultChainID is a development chain's id unless Config says another:
// 1337, geth's dev chain's, so no wallet mistakes it for BTTC's 199 or
// Donau's 1029.
const DefaultChainID = 1337

// MinTip is the least priority fee per gas (wei) the chain's pool takes
// and its miner includes: geth's default, 0.001 gwei.
const MinTip = 1_000_000

// Config configures a Chain.
type Config struct {
	// ChainID is block.chainid (default DefaultChainID).
	ChainID uint64
	// Alloc funds accounts at genesis, in wei.
	Alloc map[common.Address]*big.Int
	// Host is the loopback IP the HTTP JSON-RPC listens on (default
	// 127.0.0.1); Port its port, 0 picking a free one.
	Host string
	Port int
	// Period mines a block every Period (whole seconds, so the chain's
	// clock follows the wall clock); zero mines one whenever a
	// transaction arrives, and on Commit.
	Period time.Duration
}

// Chain is a running development chain.
type Chain struct {
	stack   *node.Node
	eth     *eth.Ethereum
	beacon  *catalyst.SimulatedBeacon
	chainID uint64
	url     string

	// sealMu serializes the sealing of blocks: the on-demand miner,
	// Commit and AdjustTime.
	sealMu sync.Mutex
	stop   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

// Start starts a chain serving JSON-RPC on 127.0.0.1. Close stops it.
func Start(cfg Config) (*Chain, error) {
	if cfg.ChainID == 0 {
		cfg.ChainID = DefaultChainID
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if ip, err := netip.ParseAddr(cfg.Host); err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("bttcdev: host %q: a loopback IP (a development chain's keys are public)", cfg.Host)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("bttcdev: port %d out of range", cfg.Port)
	}
	if cfg.Period < 0 || (cfg.Period > 0 && cfg.Period%time.Second != 0) {
		return nil, fmt.Errorf("bttcdev: period %s: whole seconds, or zero to mine on each transaction", cfg.Period)
	}
	nodeConf := node.DefaultConfig
	nodeConf.DataDir = "" // in memory
	nodeConf.P2P = p2p.Config{NoDiscovery: true, MaxPeers: 0, ListenAddr: ""}
	nodeConf.HTTPHost = cfg.Host
	nodeConf.HTTPPort = cfg.Port
	nodeConf.HTTPModules = []string{"eth", "net", "web3"}
	nodeConf.HTTPVirtualHosts = []string{"localhost", cfg.Host}
	nodeConf.WSHost, nodeConf.IPCPath, nodeConf.AuthPort = "", "", 0
	nodeConf.Logger = nil

	// geth's dev chain with every fork up to Cancun and none after: the
	// rules an EVM chain such as BTTC runs, not Ethereum's newest gas
	// schedule (whose state-growth pricing would triple an open's gas).
	chainCfg := *params.AllDevChainProtocolChanges
	chainCfg.ChainID = new(big.Int).SetUint64(cfg.ChainID)
	chainCfg.PragueTime, chainCfg.OsakaTime, chainCfg.BogotaTime = nil, nil, nil
	chainCfg.BlobScheduleConfig = &params.BlobScheduleConfig{Cancun: params.DefaultCancunBlobConfig}
	alloc := core.SystemContractAllocs()
	for a, wei := range cfg.Alloc {
		alloc[a] = types.Account{Balance: new(big.Int).Set(wei)}
	}
	ethConf := ethconfig.Defaults
	ethConf.Genesis = &core.Genesis{Config: &chainCfg, GasLimit: ethconfig.Defaults.Miner.GasCeil, Alloc: alloc}
	ethConf.SyncMode = ethconfig.FullSync
	ethConf.TxPool.NoLocals = true
	// The pool refuses a tip the miner would not include: with mining on
	// arrival, such a transaction would have the miner spin on it.
	ethConf.Miner.GasPrice = big.NewInt(MinTip)
	ethConf.TxPool.PriceLimit = MinTip
	ethConf.NetworkId = cfg.ChainID

	stack, err := node.New(&nodeConf)
	if err != nil {
		return nil, fmt.Errorf("bttcdev: node: %w", err)
	}
	backend, err := eth.New(stack, &ethConf)
	if err != nil {
		_ = stack.Close()
		return nil, fmt.Errorf("bttcdev: eth service: %w", err)
	}
	fs := filters.NewFilterSystem(backend.APIBackend, filters.Config{})
	stack.RegisterAPIs([]rpc.API{{Namespace: "eth", Service: filters.NewFilterAPI(fs)}})
	beacon, err := catalyst.NewSimulatedBeacon(uint64(cfg.Period/time.Second), common.Address{}, backend)
	if err != nil {
		_ = stack.Close()
		return nil, fmt.Errorf("bttcdev: beacon: %w", err)
	}
	stack.RegisterLifecycle(beacon) // with a period, it mines on its own
	if err := stack.Start(); err != nil {
		_ = stack.Close()
		return nil, fmt.Errorf("bttcdev: start: %w", err)
	}
	c := &Chain{stack: stack, eth: backend, beacon: beacon, chainID: cfg.ChainID, url: stack.HTTPEndpoint(), stop: make(chan struct{})}
	if cfg.Period == 0 {
		c.wg.Add(1)
		go c.mineOnDemand()
	}
	return c, nil
}

// mineOnDemand mines whenever a transaction arrives, and every
// recheckInterval while any is waiting, until Close. (geth's own
// on-demand miner, its "dev" API, races Commit and AdjustTime and spins
// on a transaction it cannot include.)
func (c *Chain) mineOnDemand() {
	defer c.wg.Done()
	newTxs := make(chan core.NewTxsEvent, 16)
	sub := c.eth.TxPool().SubscribeTransactions(newTxs, true)
	defer sub.Unsubscribe()
	tick := time.NewTicker(recheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-sub.Err():
			return
		case <-newTxs:
		case <-tick.C:
		}
		c.mine()
	}
}

// recheckInterval is how often the on-demand miner looks for waiting
// transactions without being told of new ones.
const recheckInterval = 250 * time.Millisecond

// mine mines blocks while the pool has executable transactions, a few at
// most (one it cannot include waits for the next look).
func (c *Chain) mine() {
	c.sealMu.Lock()
	defer c.sealMu.Unlock()
	for range 4 {
		if err := c.eth.TxPool().Sync(); err != nil {
			return
		}
		if executable, _ := c.eth.TxPool().Stats(); executable == 0 {
			return
		}
		c.beacon.Commit()
	}
}

// URL is the chain's JSON-RPC endpoint, http://127.0.0.1:port.
func (c *Chain) URL() string { return c.url }

// ChainID is block.chainid.
func (c *Chain) ChainID() uint64 { return c.chainID }

// Dial returns a JSON-RPC client of the chain over HTTP.
func (c *Chain) Dial() (*ethclient.Client, error) {
	cl, err := ethclient.Dial(c.url)
	if err != nil {
		return nil, fmt.Errorf("bttcdev: dial %s: %w", c.url, err)
	}
	return cl, nil
}

// Commit mines a block now, with the transactions in the pool.
func (c *Chain) Commit() {
	c.sealMu.Lock()
	defer c.sealMu.Unlock()
	c.beacon.Commit()
}

// AdjustTime mines an empty block d later than the last one. A pool
// still holding transactions (the pool forgets mined ones a moment after
// their block) is synced, and if executable ones remain they are mined
// first.
func (c *Chain) AdjustTime(d time.Duration) error {
	c.sealMu.Lock()
	defer c.sealMu.Unlock()
	if err := c.eth.TxPool().Sync(); err != nil {
		return fmt.Errorf("bttcdev: adjust time: %w", err)
	}
	if err := c.beacon.AdjustTime(d); err == nil {
		return nil
	}
	c.beacon.Commit()
	if err := c.eth.TxPool().Sync(); err != nil {
		return fmt.Errorf("bttcdev: adjust time: %w", err)
	}
	if err := c.beacon.AdjustTime(d); err != nil {
		return fmt.Errorf("bttcdev: adjust time by %s: %w", d, err)
	}
	return nil
}

// Head is the number of the latest block.
func (c *Chain) Head() uint64 { return c.eth.BlockChain().CurrentBlock().Number.Uint64() }

// Close stops the chain; its state is gone.
func (c *Chain) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	close(c.stop)
	c.wg.Wait()
	return c.stack.Close()
}

// Key is a deterministic development key: keccak256("bttcdev key " + name).
// Never use it on a real chain.
func Key(name string) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte("bttcdev key " + name)))
	if err != nil {
		panic(errors.New("bttcdev: a keccak256 hash is not a valid key")) // probability ~2^-128
	}
	return k
}
