package devnet

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"

	"github.com/bttspeed/bttspeed/btt"
)

// Errors of the test helpers.
var (
	// ErrNoToken: token calls on a node started without DeployContracts.
	ErrNoToken = errors.New("devnet: no test token (start the node with DeployContracts)")
	// ErrClosed: the node was closed.
	ErrClosed = errors.New("devnet: node closed")
)

// Node is a running devnet. Its methods are safe for concurrent use.
type Node struct {
	cfg      Config
	keys     []*ecdsa.PrivateKey
	operator *ecdsa.PrivateKey
	addr     string
	srv      *grpc.Server

	mu     sync.Mutex
	chain  *chain // guarded by mu
	closed bool   // guarded by mu
	drop   int    // guarded by mu: broadcasts still to drop

	token, escrow btt.Address // set before the server starts

	unavailable atomic.Bool
	latency     atomic.Int64 // time.Duration

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start makes the genesis state, mines block 1 (with the contracts when
// cfg.DeployContracts), and serves the Wallet API on cfg.Listen. ctx bounds
// the start only; Close stops the node.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	keys, err := deriveKeys(cfg.Seed, cfg.Accounts)
	if err != nil {
		return nil, err
	}
	operator, err := deriveKey(cfg.Seed, "operator")
	if err != nil {
		return nil, err
	}
	funded := make([]btt.Address, len(keys))
	for i, k := range keys {
		funded[i] = addressOf(k)
	}
	c, err := newChain(cfg, funded, addressOf(operator))
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, keys: keys, operator: operator, chain: c, stop: make(chan struct{})}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("devnet: start: %w", err)
	}
	ts := cfg.GenesisTime.UnixMilli()
	ts -= ts % blockMillis
	if cfg.DeployContracts {
		if err := n.deployContracts(ts); err != nil {
			return nil, err
		}
	} else {
		c.mine(ts)
	}
	c.solidifyAll()

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("devnet: listen: %w", err)
	}
	n.addr = ln.Addr().String()
	n.srv = grpc.NewServer(grpc.UnaryInterceptor(n.intercept))
	w := &wallet{n: n}
	api.RegisterWalletServer(n.srv, w)
	api.RegisterWalletSolidityServer(n.srv, &solidity{w: w})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		_ = n.srv.Serve(ln) // returns when Close stops the server
	}()
	if cfg.BlockInterval > 0 {
		n.wg.Add(1)
		go n.mineLoop()
	}
	return n, nil
}

// Close stops the gRPC server and the block producer and waits for them.
// Calls in flight fail with codes.Unavailable or Canceled.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		close(n.stop)
		n.srv.Stop()
		n.wg.Wait()
	})
	return nil
}

// mineLoop mines a block per Config.BlockInterval until Close.
func (n *Node) mineLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.BlockInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.mu.Lock()
			if !n.chain.delayed() {
				n.chain.delayUntil = time.Time{}
				n.chain.mineNext()
			}
			n.mu.Unlock()
		}
	}
}

// Addr is the gRPC server's address, "127.0.0.1:PORT".
func (n *Node) Addr() string { return n.addr }

// Keys returns the funded keys. They are throwaway devnet keys.
func (n *Node) Keys() []*ecdsa.PrivateKey {
	return append([]*ecdsa.PrivateKey(nil), n.keys...)
}

// Accounts returns the funded keys' addresses, in the order of Keys.
func (n *Node) Accounts() []btt.Address {
	out := make([]btt.Address, len(n.keys))
	for i, k := range n.keys {
		out[i] = addressOf(k)
	}
	return out
}

// Token is the test token's address (zero without DeployContracts).
func (n *Node) Token() btt.Address { return n.token }

// Escrow is the escrow's address (zero without DeployContracts).
func (n *Node) Escrow() btt.Address { return n.escrow }

// ChallengePeriod is the escrow's challenge period.
func (n *Node) ChallengePeriod() time.Duration { return n.cfg.ChallengePeriod }

// ChainID is block.chainid: the last 4 bytes of the genesis block id.
func (n *Node) ChainID() uint64 { return n.chain.chainID }

// Now is the chain clock, never behind the head block.
func (n *Node) Now() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.chain.now()
}

// Head returns the head block's number and time.
func (n *Node) Head() (int64, time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.chain.head()
	return h.number(), time.UnixMilli(h.timestamp())
}

// Advance moves the chain clock by d (d <= 0 does nothing). When the clock
// passed the next slot, or transactions wait, it mines one block at the
// new time (unless SetBlockDelay holds blocks back).
func (n *Node) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.chain
	c.clockBase = c.clockBase.Add(d)
	if c.delayed() {
		return
	}
	c.delayUntil = time.Time{}
	now := c.now().UnixMilli()
	if len(c.pending) > 0 || now-now%blockMillis >= c.head().timestamp()+blockMillis {
		c.mineNext()
	}
}

// SetUnavailable makes every RPC answer codes.Unavailable until called
// with false.
func (n *Node) SetUnavailable(v bool) { n.unavailable.Store(v) }

// SetLatency delays every RPC by d (0 for none). A caller's deadline still
// ends the call.
func (n *Node) SetLatency(d time.Duration) { n.latency.Store(int64(max(d, 0))) }

// DropNext makes the next k broadcasts that would be accepted answer
// SUCCESS and never be included. k <= 0 cancels what is left.
func (n *Node) DropNext(k int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop = max(k, 0)
}

// SetBlockDelay holds every block back until the chain clock has moved d
// past now; d <= 0 ends a delay (and mines what waits, when blocks are
// mined on demand).
func (n *Node) SetBlockDelay(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.chain
	if d > 0 {
		c.delayUntil = c.now().Add(d)
		return
	}
	c.delayUntil = time.Time{}
	if n.cfg.BlockInterval == 0 && len(c.pending) > 0 {
		c.mineNext()
	}
}

// TRXBalance is an account's balance in sun.
func (n *Node) TRXBalance(a btt.Address) int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.chain.balance(a)
}

// FundTRX adds sun to an account's balance, creating the account if
// needed. It is a state change, not a transaction.
func (n *Node) FundTRX(a btt.Address, sun int64) error {
	if a[0] != btt.AddressPrefix {
		return fmt.Errorf("devnet: fund: %w: %x", btt.ErrBadAddress, a[:])
	}
	if sun < 0 {
		return fmt.Errorf("devnet: fund: negative amount %d", sun)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.chain.balance(a) > math.MaxInt64-sun {
		return fmt.Errorf("devnet: fund: %s would hold more than %d sun", a, int64(math.MaxInt64))
	}
	n.chain.fund(a, sun)
	n.chain.finalise()
	return nil
}

// MintTokens mints amount of the test token to a: the token's mint,
// called by its owner directly on the state (no transaction, no block).
func (n *Node) MintTokens(a btt.Address, amount btt.Amount) error {
	if n.token.IsZero() {
		return ErrNoToken
	}
	data, err := tokenABI().Pack("mint", evmAddr(a), amount.Big())
	if err != nil {
		return fmt.Errorf("devnet: mint: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.chain.stateCall(addressOf(n.operator), n.token, data)
}

// TokenBalance is an account's test token balance (zero without
// DeployContracts).
func (n *Node) TokenBalance(a btt.Address) btt.Amount {
	if n.token.IsZero() {
		return btt.Amount{}
	}
	data, err := tokenABI().Pack("balanceOf", evmAddr(a))
	if err != nil {
		return btt.Amount{}
	}
	n.mu.Lock()
	out := n.chain.constantCall(a, n.token, data, MaxConstantEnergy)
	n.mu.Unlock()
	if out.err != nil || len(out.ret) != 32 {
		return btt.Amount{}
	}
	return btt.AmountFromBytes32([32]byte(out.ret))
}

// stateCall runs a state-changing call outside any transaction, at the
// head block, and keeps its effects.
func (c *chain) stateCall(from, to btt.Address, data []byte) error {
	head := c.head()
	out := c.runCall(blockCtx{number: head.number(), ts: head.timestamp()}, c.callHash(), 0, from, to, data, MaxConstantEnergy)
	c.finalise()
	if out.err != nil {
		if reason, err := abi.UnpackRevert(out.ret); err == nil {
			return fmt.Errorf("devnet: call reverted: %s", reason)
		}
		return fmt.Errorf("devnet: call failed: %w", out.err)
	}
	return nil
}

// sign signs tx with key (its id), as a client would.
func sign(tx *core.Transaction, key *ecdsa.PrivateKey) ([32]byte, error) {
	id, err := txID(tx.RawData)
	if err != nil {
		return id, err
	}
	sig, err := crypto.Sign(id[:], key)
	if err != nil {
		return id, err
	}
	tx.Signature = [][]byte{sig}
	return id, nil
}
