package tron

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
)

// SunPerTRX is the number of sun in one TRX.
const SunPerTRX = 1_000_000

// Defaults of Config.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultFeeLimit       = 100 * SunPerTRX
	DefaultReceiptTimeout = 30 * time.Second
	DefaultPollInterval   = time.Second
	DefaultRebroadcasts   = 2
	// DefaultEnergyPrice and DefaultBandwidthPrice (sun) are used when the
	// node does not publish its prices.
	DefaultEnergyPrice    = 210
	DefaultBandwidthPrice = 1000
)

// Retry bounds the retries of calls that failed because the node could not
// be reached: reads, building transactions, and broadcasts of an
// already-signed transaction (the same bytes, so repeating is safe).
type Retry struct {
	// Attempts is the number of tries in all (default 5; 1 disables
	// retries).
	Attempts int
	// Base is the first back-off (default 200 ms); each next one doubles,
	// up to Max (default 5 s), with up to 20% jitter.
	Base, Max time.Duration
}

// Config configures a Client.
type Config struct {
	// Addr is the node's gRPC endpoint, host:port (a local java-tron
	// listens on 50051; the devnet prints its own).
	Addr string
	// Insecure dials without TLS (a local node or the devnet). Otherwise
	// the connection uses TLS with TLSConfig, or the system's roots.
	Insecure  bool
	TLSConfig *tls.Config
	// APIKey is sent as TRON-PRO-API-KEY (TronGrid), if set.
	APIKey string
	// Timeout bounds each RPC (default 10 s).
	Timeout time.Duration
	// FeeLimit is the most a transaction may burn for energy, in sun
	// (default 100 TRX).
	FeeLimit int64
	// ReceiptTimeout is how long to wait for a transaction's receipt
	// before rebroadcasting it or giving up (default 30 s).
	ReceiptTimeout time.Duration
	// PollInterval is how often to ask for a receipt (default 1 s).
	PollInterval time.Duration
	// Rebroadcasts is how often Confirm rebroadcasts the same signed
	// transaction when no receipt comes in ReceiptTimeout (default 2;
	// negative: never).
	Rebroadcasts int
	// Retry bounds the retries of calls that failed because the node was
	// unreachable.
	Retry Retry
	// Signer signs transactions; without it the client can only read.
	Signer Signer
	// DialOptions are added to the gRPC dial options.
	DialOptions []grpc.DialOption

	// Finality says when a receipt counts and which state reads see
	// (default FinalitySolid: solidified blocks only).
	Finality Finality
	// SolidityAddr is the node's solidity API (WalletSolidity) endpoint,
	// host:port, dialled like Addr; empty means Addr (the devnet serves
	// both there; java-tron serves it on its own port, 50061). Unused
	// with FinalityHead.
	SolidityAddr string
	// SolidTimeout is how long Confirm waits for a transaction in a
	// block to solidify before giving up with its outcome unknown
	// (default DefaultSolidTimeout).
	SolidTimeout time.Duration
}

func (cfg *Config) setDefaults() {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.FeeLimit <= 0 {
		cfg.FeeLimit = DefaultFeeLimit
	}
	if cfg.ReceiptTimeout <= 0 {
		cfg.ReceiptTimeout = DefaultReceiptTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Rebroadcasts == 0 {
		cfg.Rebroadcasts = DefaultRebroadcasts
	}
	if cfg.Rebroadcasts < 0 {
		cfg.Rebroadcasts = 0
	}
	evmescrow.RetryDefaults(&cfg.Retry.Attempts, &cfg.Retry.Base, &cfg.Retry.Max)
	if cfg.SolidTimeout <= 0 {
		cfg.SolidTimeout = DefaultSolidTimeout
	}
}

// Client talks to a TRON node over gRPC through gotron-sdk's GrpcClient. It
// is safe for concurrent use.
type Client struct {
	cfg    Config
	sdk    *client.GrpcClient
	signer Signer
	// solid is the solidity API (nil with FinalityHead); solidConn its
	// own connection when SolidityAddr is not Addr.
	solid     api.WalletSolidityClient
	solidConn *grpc.ClientConn

	mu          sync.Mutex
	chainID     uint64
	haveChainID bool
	prices      [2]cachedPrice // bandwidth, energy
}

// Dial connects to the node at cfg.Addr and checks it answers by reading
// its chain id. A node that cannot be reached gives an error wrapping
// paychan.ErrChainUnavailable.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("tron: Config.Addr is empty: set the node's gRPC host:port")
	}
	if cfg.Finality != FinalitySolid && cfg.Finality != FinalityHead {
		return nil, fmt.Errorf("tron: Config.Finality %v: want FinalitySolid or FinalityHead", cfg.Finality)
	}
	cfg.setDefaults()
	opts := []grpc.DialOption{grpc.WithUserAgent("bttspeed-tron")}
	switch {
	case cfg.Insecure:
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	case cfg.TLSConfig != nil:
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg.TLSConfig)))
	default:
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})))
	}
	opts = append(opts, cfg.DialOptions...)
	sdk := client.NewGrpcClientWithTimeout(cfg.Addr, cfg.Timeout)
	if err := sdk.Start(opts...); err != nil {
		return nil, fmt.Errorf("tron: dial %s: %w", cfg.Addr, err)
	}
	if cfg.APIKey != "" {
		_ = sdk.SetAPIKey(cfg.APIKey)
	}
	c := &Client{cfg: cfg, sdk: sdk, signer: cfg.Signer}
	if cfg.Finality == FinalitySolid {
		c.solid = api.NewWalletSolidityClient(sdk.Conn)
		if cfg.SolidityAddr != "" && cfg.SolidityAddr != cfg.Addr {
			conn, err := grpc.NewClient(cfg.SolidityAddr, opts...)
			if err != nil {
				sdk.Stop()
				return nil, fmt.Errorf("tron: dial the solidity API at %s: %w", cfg.SolidityAddr, err)
			}
			c.solid, c.solidConn = api.NewWalletSolidityClient(conn), conn
		}
	}
	if _, err := c.ChainID(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("tron: dial %s: %w", cfg.Addr, err)
	}
	if c.solid != nil {
		if err := c.checkSolidity(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("tron: dial %s: %w", cfg.Addr, err)
		}
	}
	return c, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	c.sdk.Stop()
	if c.solidConn != nil {
		return c.solidConn.Close()
	}
	return nil
}

// Config returns the client's configuration, defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// Signer returns the client's signer (nil for a read-only client).
func (c *Client) Signer() Signer { return c.signer }

// Address is the signer's address (zero without a signer).
func (c *Client) Address() btt.Address {
	if c.signer == nil {
		return btt.Address{}
	}
	return c.signer.Address()
}

// String describes the client without secrets.
func (c *Client) String() string {
	if c.signer == nil {
		return "tron.Client(" + c.cfg.Addr + ", read-only)"
	}
	return "tron.Client(" + c.cfg.Addr + ", " + c.signer.Address().String() + ")"
}

// rpc runs one RPC with the per-call timeout, retrying while the node is
// unreachable. f's errors are classified by unavailable.
func (c *Client) rpc(ctx context.Context, op string, f func(ctx context.Context) error) error {
	return c.retry(ctx, op, func() error {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
		return unavailable(ctx, op, f(rctx))
	})
}

// retry calls f until it succeeds, fails with an error that does not wrap
// paychan.ErrChainUnavailable, ctx ends, or the attempts are used up
// (evmescrow.Retry: waits doubling from Retry.Base to Retry.Max, up to a
// fifth added).
func (c *Client) retry(ctx context.Context, op string, f func() error) error {
	return evmescrow.Retry(ctx, "tron", op, c.cfg.Retry.Attempts, c.cfg.Retry.Base, c.cfg.Retry.Max, f)
}

// ChainID returns the chain id: the last 4 bytes of the genesis block's id,
// what the EVM sees as block.chainid (mainnet 0x2b6653dc). It is read once.
func (c *Client) ChainID(ctx context.Context) (uint64, error) {
	c.mu.Lock()
	id, ok := c.chainID, c.haveChainID
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	var blk *api.BlockExtention
	err := c.rpc(ctx, "read the genesis block", func(ctx context.Context) error {
		var err error
		blk, err = c.sdk.GetBlockByNumCtx(ctx, 0)
		return err
	})
	if err != nil {
		return 0, err
	}
	bid, err := blockID(blk)
	if err != nil {
		return 0, err
	}
	id = uint64(binary.BigEndian.Uint32(bid[28:]))
	c.mu.Lock()
	c.chainID, c.haveChainID = id, true
	c.mu.Unlock()
	return id, nil
}

// blockID is a block's id as the node gives it, or computed: the block
// number (8 bytes) followed by the last 24 bytes of sha256 of the header's
// raw data.
func blockID(b *api.BlockExtention) ([32]byte, error) {
	var id [32]byte
	if len(b.GetBlockid()) == 32 {
		copy(id[:], b.GetBlockid())
		return id, nil
	}
	raw := b.GetBlockHeader().GetRawData()
	if raw == nil {
		return id, fmt.Errorf("%w: block without id or header", ErrBadResponse)
	}
	enc, err := proto.Marshal(raw)
	if err != nil {
		return id, fmt.Errorf("tron: block header: %w", err)
	}
	id = sha256.Sum256(enc)
	binary.BigEndian.PutUint64(id[:8], uint64(raw.GetNumber()))
	return id, nil
}

// Now returns the chain's time: the latest block's timestamp.
func (c *Client) Now(ctx context.Context) (time.Time, error) {
	var blk *api.BlockExtention
	err := c.rpc(ctx, "read the latest block", func(ctx context.Context) error {
		var err error
		blk, err = c.sdk.GetNowBlockCtx(ctx)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	raw := blk.GetBlockHeader().GetRawData()
	if raw == nil {
		return time.Time{}, fmt.Errorf("%w: latest block without a header", ErrBadResponse)
	}
	return time.UnixMilli(raw.GetTimestamp()).UTC(), nil
}

// TRXBalance returns addr's TRX balance in sun (0 for an account the chain
// has not seen).
func (c *Client) TRXBalance(ctx context.Context, addr btt.Address) (int64, error) {
	acc, err := c.account(ctx, addr)
	if err != nil {
		return 0, err
	}
	return acc.GetBalance(), nil
}

func (c *Client) account(ctx context.Context, addr btt.Address) (*core.Account, error) {
	if addr.IsZero() {
		return nil, fmt.Errorf("tron: balance: %w: zero address", btt.ErrBadAddress)
	}
	var acc *core.Account
	err := c.rpc(ctx, "read account "+addr.String(), func(ctx context.Context) error {
		var err error
		acc, err = c.sdk.GetAccountCtx(ctx, sdkAddr(addr))
		if err != nil {
			if _, isRPC := status.FromError(err); !isRPC {
				// gotron-sdk's "account not found": not activated yet.
				acc, err = &core.Account{}, nil
			}
		}
		return err
	})
	return acc, err
}
