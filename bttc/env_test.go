package bttc

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc/bttcdev"
)

// testPeriod is the test escrows' challenge period.
const testPeriod = time.Hour

// faults wraps a node's client and, armed, fails its calls as a node that
// cannot be reached, drops a sent transaction, or loses a send's answer.
// Everything else reaches the real node.
type faults struct {
	*ethclient.Client
	mu        sync.Mutex
	down      bool
	drop      int // sends to drop (reported sent, never reaching the node)
	loseReply int // sends whose answer is lost (the node has them)
	downAfter bool
	sends     map[common.Hash]int
}

var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

func (f *faults) isDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

func (f *faults) setDown(d bool) {
	f.mu.Lock()
	f.down = d
	f.mu.Unlock()
}

func (f *faults) ChainID(ctx context.Context) (*big.Int, error) {
	if f.isDown() {
		return nil, errRefused
	}
	return f.Client.ChainID(ctx)
}

func (f *faults) BlockNumber(ctx context.Context) (uint64, error) {
	if f.isDown() {
		return 0, errRefused
	}
	return f.Client.BlockNumber(ctx)
}

func (f *faults) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	if f.isDown() {
		return nil, errRefused
	}
	return f.Client.HeaderByNumber(ctx, n)
}

func (f *faults) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	if f.isDown() {
		return nil, errRefused
	}
	return f.Client.TransactionReceipt(ctx, h)
}

func (f *faults) NonceAt(ctx context.Context, a common.Address, n *big.Int) (uint64, error) {
	if f.isDown() {
		return 0, errRefused
	}
	return f.Client.NonceAt(ctx, a, n)
}

func (f *faults) PendingNonceAt(ctx context.Context, a common.Address) (uint64, error) {
	if f.isDown() {
		return 0, errRefused
	}
	return f.Client.PendingNonceAt(ctx, a)
}

func (f *faults) CodeAt(ctx context.Context, a common.Address, n *big.Int) ([]byte, error) {
	if f.isDown() {
		return nil, errRefused
	}
	return f.Client.CodeAt(ctx, a, n)
}

func (f *faults) CallContract(ctx context.Context, msg ethereum.CallMsg, n *big.Int) ([]byte, error) {
	if f.isDown() {
		return nil, errRefused
	}
	return f.Client.CallContract(ctx, msg, n)
}

func (f *faults) EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error) {
	if f.isDown() {
		return 0, errRefused
	}
	return f.Client.EstimateGas(ctx, msg)
}

func (f *faults) BalanceAt(ctx context.Context, a common.Address, n *big.Int) (*big.Int, error) {
	if f.isDown() {
		return nil, errRefused
	}
	return f.Client.BalanceAt(ctx, a, n)
}

func (f *faults) SuggestGasTipCap(ctx context.Context) (*big.Int, error) {
	if f.isDown() {
		return nil, errRefused
	}
	return f.Client.SuggestGasTipCap(ctx)
}

func (f *faults) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	f.mu.Lock()
	if f.sends == nil {
		f.sends = map[common.Hash]int{}
	}
	f.sends[tx.Hash()]++
	down, drop, lose := f.down, f.drop > 0, f.loseReply > 0
	if drop {
		f.drop--
	}
	if lose && !down {
		f.loseReply--
		if f.downAfter {
			f.down = true
		}
	}
	f.mu.Unlock()
	switch {
	case down:
		return errRefused
	case drop:
		return nil
	case lose:
		if err := f.Client.SendTransaction(ctx, tx); err != nil {
			return err
		}
		return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return f.Client.SendTransaction(ctx, tx)
}

// sent is how often tx was handed to the node's client.
func (f *faults) sent(h common.Hash) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sends[h]
}

// fastConfig is a client configuration for the development chain: quick
// polls and retries, one confirmation.
func fastConfig(key *ecdsa.PrivateKey) Config {
	return Config{
		Key:            key,
		Timeout:        5 * time.Second,
		ReceiptTimeout: 3 * time.Second,
		PollInterval:   20 * time.Millisecond,
		Confirmations:  1,
		Retry:          Retry{Attempts: 3, Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
	}
}

// env is a development chain with TestToken and an EIP-712 escrow
// deployed, and funded accounts.
type env struct {
	t      testing.TB
	ctx    context.Context
	chain  *bttcdev.Chain
	owner  *Client
	token  btt.Address
	escrow btt.Address
}

// wei is n whole BTT.
func wei(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e18)) }

var testKeys = []string{"owner", "payer", "payee", "other"}

func newEnv(t testing.TB) *env {
	t.Helper()
	alloc := map[common.Address]*big.Int{}
	for _, n := range testKeys {
		alloc[crypto.PubkeyToAddress(bttcdev.Key(n).PublicKey)] = wei(1000)
	}
	chain, err := bttcdev.Start(bttcdev.Config{Alloc: alloc})
	require.NoError(t, err)
	t.Cleanup(func() { _ = chain.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, chain: chain}
	e.owner = e.client(bttcdev.Key("owner"), nil)
	e.token, _, err = DeployTestToken(ctx, e.owner)
	require.NoError(t, err)
	e.escrow, _, err = DeployEscrow(ctx, e.owner, e.token, testPeriod)
	require.NoError(t, err)
	for _, n := range []string{"payer", "other"} {
		_, err := Mint(ctx, e.owner, e.token, addrOf(n), btt.NewAmount(1_000_000))
		require.NoError(t, err)
	}
	return e
}

func addrOf(name string) btt.Address {
	return btt.AddressFromEVM(crypto.PubkeyToAddress(bttcdev.Key(name).PublicKey))
}

// client dials the chain as key, through f if not nil.
func (e *env) client(key *ecdsa.PrivateKey, f *faults) *Client {
	e.t.Helper()
	ec, err := e.chain.Dial()
	require.NoError(e.t, err)
	e.t.Cleanup(ec.Close)
	var b Backend = ec
	if f != nil {
		f.Client = ec
		b = f
	}
	c, err := New(b, fastConfig(key))
	require.NoError(e.t, err)
	return c
}

// party is the escrow as the named account, through f if not nil.
func (e *env) party(name string, f *faults, opts ...EscrowOption) *Escrow {
	e.t.Helper()
	es, err := NewEscrow(e.client(bttcdev.Key(name), f), e.escrow, opts...)
	require.NoError(e.t, err)
	return es
}

func (e *env) balance(name string) btt.Amount {
	e.t.Helper()
	b, err := e.owner.BalanceOf(e.ctx, e.token, addrOf(name))
	require.NoError(e.t, err)
	return b
}
