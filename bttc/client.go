package bttc

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
)

// Chain ids of BitTorrent Chain.
const (
	MainnetChainID = 199
	DonauChainID   = 1029
)

// Defaults of Config.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultReceiptTimeout = 60 * time.Second
	DefaultPollInterval   = time.Second
	// DefaultConfirmations counts the receipt's block: a receipt counts
	// once DefaultConfirmations blocks (it and those on top) are mined.
	DefaultConfirmations = 3
	// DefaultGasMargin is the percent added to eth_estimateGas.
	DefaultGasMargin = 25
)

// DefaultMaxFeePerGas is the most a transaction offers per gas unless
// Config says otherwise: 1e15 wei (10^6 gwei). At 200,000 gas that is
// 200 BTT; BTTC's fees are far below it.
var DefaultMaxFeePerGas = big.NewInt(1e15)

// Backend is what the client needs of a node: go-ethereum's
// *ethclient.Client is one (over HTTP or WebSocket), and so is the client
// of its simulated backend.
type Backend interface {
	ChainID(ctx context.Context) (*big.Int, error)
	BlockNumber(ctx context.Context) (uint64, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	CallContract(ctx context.Context, msg ethereum.CallMsg, blockNumber *big.Int) ([]byte, error)
	EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
	TransactionByHash(ctx context.Context, txHash common.Hash) (tx *types.Transaction, isPending bool, err error)
	NonceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (uint64, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	CodeAt(ctx context.Context, account common.Address, blockNumber *big.Int) ([]byte, error)
	BalanceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (*big.Int, error)
}

var _ Backend = (*ethclient.Client)(nil)

// Retry bounds the retries of calls that failed because the node could
// not be reached: reads, and sends of an already-signed transaction (the
// same bytes, so repeating is safe).
type Retry struct {
	// Attempts is the number of tries in all (default 5; 1 disables
	// retries).
	Attempts int
	// Base is the first back-off (default 200 ms); each next one doubles,
	// up to Max (default 5 s; one below Base is taken as Base), with up
	// to 20% added.
	Base, Max time.Duration
}

// Config configures a Client.
type Config struct {
	// URL is the node's JSON-RPC endpoint (http, https, ws or wss), for
	// Dial.
	URL string
	// Key signs transactions; without it the client only reads. It is
	// never logged.
	Key *ecdsa.PrivateKey
	// Timeout bounds each RPC (default DefaultTimeout).
	Timeout time.Duration
	// ReceiptTimeout is how long Confirm waits for a receipt with its
	// confirmations before the outcome counts as unknown (default
	// DefaultReceiptTimeout).
	ReceiptTimeout time.Duration
	// PollInterval is how often to ask for a receipt (default
	// DefaultPollInterval).
	PollInterval time.Duration
	// Confirmations is how many blocks, the receipt's included, must be
	// mined before a receipt counts (default DefaultConfirmations; 1
	// takes a receipt as soon as it is in a block).
	Confirmations uint64
	// MaxFeePerGas caps what a transaction offers per gas, base fee and
	// tip (default DefaultMaxFeePerGas). A chain asking more gives
	// ErrFeeCap before anything is signed.
	MaxFeePerGas *big.Int
	// MaxTip caps the priority fee per gas (default: the node's
	// suggestion, within MaxFeePerGas).
	MaxTip *big.Int
	// GasMargin is the percent added to the estimated gas (default
	// DefaultGasMargin).
	GasMargin uint64
	// Retry bounds the retries of calls that failed because the node was
	// unreachable.
	Retry Retry
}

func (cfg *Config) setDefaults() {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ReceiptTimeout <= 0 {
		cfg.ReceiptTimeout = DefaultReceiptTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Confirmations == 0 {
		cfg.Confirmations = DefaultConfirmations
	}
	if cfg.MaxFeePerGas == nil || cfg.MaxFeePerGas.Sign() <= 0 {
		cfg.MaxFeePerGas = DefaultMaxFeePerGas
	}
	if cfg.GasMargin == 0 {
		cfg.GasMargin = DefaultGasMargin
	}
	evmescrow.RetryDefaults(&cfg.Retry.Attempts, &cfg.Retry.Base, &cfg.Retry.Max)
}

// Client talks to one BTTC (or any EVM) node as one account. It is safe
// for concurrent use; the Escrow serializes its own transactions.
type Client struct {
	b      Backend
	cfg    Config
	key    *ecdsa.PrivateKey
	addr   common.Address
	closer func()

	mu      sync.Mutex
	chainID *big.Int
}

// Dial connects to cfg.URL. Close releases the connection.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("bttc: dial: %w: no RPC URL", ErrInvalidArgument)
	}
	ec, err := ethclient.DialContext(ctx, cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("bttc: dial %s: %w", cfg.URL, err)
	}
	c, err := New(ec, cfg)
	if err != nil {
		ec.Close()
		return nil, err
	}
	c.closer = ec.Close
	return c, nil
}

// New returns a client over b (an *ethclient.Client, or a simulated
// backend's client). Close does not close b.
func New(b Backend, cfg Config) (*Client, error) {
	if b == nil {
		return nil, fmt.Errorf("bttc: %w: nil backend", ErrInvalidArgument)
	}
	cfg.setDefaults()
	c := &Client{b: b, cfg: cfg, key: cfg.Key}
	c.cfg.Key = nil // kept in c.key only
	if c.key != nil {
		c.addr = crypto.PubkeyToAddress(c.key.PublicKey)
	}
	return c, nil
}

// Close closes the connection Dial opened.
func (c *Client) Close() error {
	if c.closer != nil {
		c.closer()
	}
	return nil
}

// Config returns the configuration, defaults filled in and the key left
// out.
func (c *Client) Config() Config { return c.cfg }

// Address is the account's address (zero without a key).
func (c *Client) Address() btt.Address {
	if c.key == nil {
		return btt.Address{}
	}
	return btt.AddressFromEVM(c.addr)
}

// String describes the client, never its key.
func (c *Client) String() string {
	if c.key == nil {
		return "bttc.Client(" + c.cfg.URL + ", read-only)"
	}
	return "bttc.Client(" + c.cfg.URL + ", " + c.addr.Hex() + ")"
}

// rpc runs one RPC with the per-call timeout, retrying while the node is
// unreachable (evmescrow.Retry: waits doubling from Retry.Base to
// Retry.Max, up to a fifth added).
func (c *Client) rpc(ctx context.Context, op string, f func(ctx context.Context) error) error {
	return evmescrow.Retry(ctx, "bttc", op, c.cfg.Retry.Attempts, c.cfg.Retry.Base, c.cfg.Retry.Max, func() error {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
		return unavailable(ctx, op, f(rctx))
	})
}

// ChainID is block.chainid, read once.
func (c *Client) ChainID(ctx context.Context) (uint64, error) {
	c.mu.Lock()
	id := c.chainID
	c.mu.Unlock()
	if id != nil {
		return id.Uint64(), nil
	}
	err := c.rpc(ctx, "read the chain id", func(ctx context.Context) error {
		var err error
		id, err = c.b.ChainID(ctx)
		return err
	})
	if err != nil {
		return 0, err
	}
	if !id.IsUint64() || id.Sign() == 0 {
		return 0, fmt.Errorf("%w: chain id %s", ErrBadResponse, id)
	}
	c.mu.Lock()
	c.chainID = id
	c.mu.Unlock()
	return id.Uint64(), nil
}

// head returns the latest block's header.
func (c *Client) head(ctx context.Context) (*types.Header, error) {
	var h *types.Header
	err := c.rpc(ctx, "read the latest block", func(ctx context.Context) error {
		var err error
		h, err = c.b.HeaderByNumber(ctx, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	if h == nil || h.Number == nil {
		return nil, fmt.Errorf("%w: no latest block", ErrBadResponse)
	}
	return h, nil
}

// Now is the latest block's time.
func (c *Client) Now(ctx context.Context) (time.Time, error) {
	h, err := c.head(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return chainTime(h.Time), nil
}

// BTTBalance is an account's native BTT, in wei (10^-18 BTT).
func (c *Client) BTTBalance(ctx context.Context, who btt.Address) (*big.Int, error) {
	var bal *big.Int
	err := c.rpc(ctx, "read the BTT balance of "+who.String(), func(ctx context.Context) error {
		var err error
		bal, err = c.b.BalanceAt(ctx, who.EVM(), nil)
		return err
	})
	return bal, err
}

// Call runs a read-only call of contract at the latest block; a revert
// gives a *RevertError.
func (c *Client) Call(ctx context.Context, contract btt.Address, data []byte) ([]byte, error) {
	to := common.Address(contract.EVM())
	return c.call(ctx, ethereum.CallMsg{From: c.addr, To: &to, Data: data}, nil)
}

func (c *Client) call(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error) {
	var out []byte
	var rev *RevertError
	err := c.rpc(ctx, "call", func(ctx context.Context) error {
		var err error
		out, err = c.b.CallContract(ctx, msg, block)
		if r, ok := revertOf(err); ok {
			rev = r
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if rev != nil {
		return nil, rev
	}
	return out, nil
}

// revertOf reads a revert out of a call's error: a JSON-RPC error whose
// data is the revert (Error(string), or empty).
func revertOf(err error) (*RevertError, bool) {
	if err == nil {
		return nil, false
	}
	var de rpc.DataError
	if errors.As(err, &de) {
		if s, ok := de.ErrorData().(string); ok {
			b, herr := hexDecode(s)
			if herr == nil {
				if len(b) == 0 {
					return &RevertError{}, true
				}
				if reason, uerr := abi.UnpackRevert(b); uerr == nil {
					return &RevertError{Reason: reason}, true
				}
				return &RevertError{Reason: ""}, true
			}
		}
	}
	if strings.Contains(err.Error(), "execution reverted") {
		return &RevertError{}, true
	}
	return nil, false
}

func hexDecode(s string) ([]byte, error) { return hexutil.Decode(s) }

// callABI packs a call of a, runs it and unpacks its outputs.
func (c *Client) callABI(ctx context.Context, contract btt.Address, a abi.ABI, method string, args ...any) ([]any, error) {
	data, err := a.Pack(method, args...)
	if err != nil {
		return nil, fmt.Errorf("bttc: encode %s: %w", method, err)
	}
	ret, err := c.Call(ctx, contract, data)
	if err != nil {
		return nil, fmt.Errorf("bttc: %s: %w", method, err)
	}
	out, err := a.Unpack(method, ret)
	if err != nil {
		return nil, fmt.Errorf("%w: %s returned %d bytes: %v", ErrBadResponse, method, len(ret), err)
	}
	return out, nil
}
