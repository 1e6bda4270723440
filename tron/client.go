package tron

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
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
	if cfg.Retry.Attempts <= 0 {
		cfg.Retry.Attempts = 5
	}
	if cfg.Retry.Base <= 0 {
		cfg.Retry.Base = 200 * time.Millisecond
	}
	if cfg.Retry.Max <= 0 {
		cfg.Retry.Max = 5 * time.Second
	}
	if cfg.Retry.Max < cfg.Retry.Base {
		cfg.Retry.Max = cfg.Retry.Base
	}
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
// paychan.ErrChainUnavailable, ctx ends, or the attempts are used up.
func (c *Client) retry(ctx context.Context, op string, f func() error) error {
	delay := c.cfg.Retry.Base
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !errors.Is(err, paychan.ErrChainUnavailable) {
			return err
		}
		if attempt >= c.cfg.Retry.Attempts {
			if attempt > 1 {
				return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
			return err
		}
		d := delay + time.Duration(rand.Int64N(int64(delay)/5+1))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("tron: %s: %w (while retrying: %v)", op, ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, c.cfg.Retry.Max)
	}
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

// Call runs a constant (read-only) call of contract with ABI-encoded data
// as the client's address (or the zero address without a signer) and
// returns what it returned: on the solidified state with FinalitySolid
// (what it reads cannot be undone by a fork), on the head block's with
// FinalityHead. A revert gives a *RevertError with the decoded reason.
func (c *Client) Call(ctx context.Context, contract btt.Address, data []byte) ([]byte, error) {
	if c.solid != nil {
		return c.solidCall(ctx, c.Address(), contract, data)
	}
	out, _, err := c.simulate(ctx, c.Address(), contract, data)
	return out, err
}

// simulate runs data as a constant call from `from` and returns its output
// and the energy it used.
func (c *Client) simulate(ctx context.Context, from, contract btt.Address, data []byte) ([]byte, int64, error) {
	if contract.IsZero() {
		return nil, 0, fmt.Errorf("tron: call: %w: zero contract address", btt.ErrBadAddress)
	}
	fromS := ""
	if !from.IsZero() {
		fromS = sdkAddr(from)
	}
	var ext *api.TransactionExtention
	err := c.rpc(ctx, "call "+contract.String(), func(ctx context.Context) error {
		var err error
		ext, err = c.sdk.TriggerConstantContractWithDataCtx(ctx, fromS, sdkAddr(contract), data)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if ext == nil {
		return nil, 0, fmt.Errorf("%w: empty answer to a call of %s", ErrBadResponse, contract)
	}
	out, err := constantResult(ext)
	if err != nil {
		return nil, ext.GetEnergyUsed(), fmt.Errorf("tron: call %s: %w", contract, err)
	}
	return out, ext.GetEnergyUsed(), nil
}

// constantResult checks a constant call's answer, which gotron-sdk does
// not: a revert (java-tron answers Result{result: true, code: SUCCESS,
// message: "REVERT opcode executed"} with ret[0].ret FAILED, the revert
// data in constant_result; older nodes answer CONTRACT_EXE_ERROR) gives a
// *RevertError; a call that could not run a *TxRejectedError.
func constantResult(ext *api.TransactionExtention) ([]byte, error) {
	var out []byte
	if len(ext.GetConstantResult()) > 0 {
		out = ext.GetConstantResult()[0]
	}
	res := ext.GetResult()
	msg := string(res.GetMessage())
	if res != nil && (res.GetCode() != api.Return_SUCCESS || !res.GetResult()) && res.GetCode() != api.Return_CONTRACT_EXE_ERROR {
		return nil, &TxRejectedError{Code: res.GetCode().String(), Message: msg}
	}
	failed := res.GetCode() == api.Return_CONTRACT_EXE_ERROR ||
		strings.Contains(strings.ToUpper(msg), "REVERT")
	for _, r := range ext.GetTransaction().GetRet() {
		cr := r.GetContractRet()
		if r.GetRet() == core.Transaction_Result_FAILED || (cr != core.Transaction_Result_DEFAULT && cr != core.Transaction_Result_SUCCESS) {
			failed = true
		}
		if cr != core.Transaction_Result_DEFAULT && cr != core.Transaction_Result_SUCCESS && cr != core.Transaction_Result_REVERT {
			return nil, fmt.Errorf("%w: %s: %s", ErrTxFailed, cr, msg)
		}
	}
	if failed {
		return nil, &RevertError{Reason: revertReason(out, msg)}
	}
	return out, nil
}

// revertReason decodes Error(string) or Panic(uint256) revert data; a
// node's message is the fallback when the data is not either.
func revertReason(data []byte, nodeMsg string) string {
	if len(data) >= 4 {
		if r, err := abi.UnpackRevert(data); err == nil {
			return r
		}
	}
	nodeMsg = strings.TrimSpace(nodeMsg)
	// A node's own message may itself be hex revert data.
	if b, err := hex.DecodeString(nodeMsg); err == nil && len(b) >= 4 {
		if r, err := abi.UnpackRevert(b); err == nil {
			return r
		}
	}
	if strings.EqualFold(nodeMsg, "REVERT opcode executed") {
		return ""
	}
	return nodeMsg
}

// TxID is a transaction id: sha256 of its raw_data.
type TxID [32]byte

// String is the id in hex, as explorers show it.
func (id TxID) String() string { return hex.EncodeToString(id[:]) }

// ParseTxID parses 64 hex digits.
func ParseTxID(s string) (TxID, error) {
	var id TxID
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		return id, fmt.Errorf("tron: transaction id %q: want 64 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// Tx is a signed transaction.
type Tx struct {
	ID TxID
	// Expiration is when the chain stops accepting it.
	Expiration time.Time
	// FeeLimit is its fee limit in sun.
	FeeLimit int64
	signed   *core.Transaction
}

// Proto returns a copy of the signed transaction.
func (t *Tx) Proto() *core.Transaction { return proto.Clone(t.signed).(*core.Transaction) }

// Log is one event a contract emitted.
type Log struct {
	Address btt.Address
	Topics  [][32]byte
	Data    []byte
}

// Receipt is a transaction's result once it is in a block.
type Receipt struct {
	TxID        TxID
	BlockNumber int64
	BlockTime   time.Time
	// Fee is what the transaction burnt, in sun; EnergyUsed the energy it
	// used in all, NetUsage the bandwidth.
	Fee, EnergyUsed, NetUsage int64
	// ContractAddress is the deployed contract (Deploy) or the called one.
	ContractAddress btt.Address
	// Result is what the call returned.
	Result []byte
	Logs   []Log
}

// Send builds a call of contract with ABI-encoded data from the client's
// address, checks it (a simulation first: a call that would revert is
// refused with its *RevertError and costs nothing; its energy against the
// fee limit and the account's TRX), signs it and broadcasts it. It returns
// the signed transaction once the node has accepted it; Confirm waits for
// its receipt.
//
// A broadcast the node may or may not have received gives a *TxError
// wrapping paychan.ErrChainUnavailable, with the signed transaction to look
// up or rebroadcast.
func (c *Client) Send(ctx context.Context, contract btt.Address, data []byte) (*Tx, error) {
	tx, err := c.SignCall(ctx, contract, data)
	if err != nil {
		return nil, err
	}
	if err := c.broadcast(ctx, tx); err != nil {
		return nil, err
	}
	return tx, nil
}

// SignCall is Send without the broadcast: it builds, checks and signs the
// call and returns it unsent, so that the caller can record the signed
// transaction durably before Rebroadcast sends it. A crash after the
// record then leaves a transaction to look up, never one nobody knows of.
func (c *Client) SignCall(ctx context.Context, contract btt.Address, data []byte) (*Tx, error) {
	if c.signer == nil {
		return nil, ErrNoSigner
	}
	from := c.signer.Address()
	_, energy, err := c.simulate(ctx, from, contract, data)
	if err != nil {
		return nil, err
	}
	var ext *api.TransactionExtention
	err = c.rpc(ctx, "build a call of "+contract.String(), func(ctx context.Context) error {
		var err error
		err = sdkSafe(func() error {
			ext, err = c.sdk.TriggerContractWithDataCtx(ctx, sdkAddr(from), sdkAddr(contract), data, c.cfg.FeeLimit, 0, "", 0)
			return err
		})
		return refused(err)
	})
	if err != nil {
		return nil, err
	}
	if err := checkTrigger(ext, from, contract, data, c.cfg.FeeLimit); err != nil {
		return nil, err
	}
	if err := c.checkBuilt(ctx, ext.GetTransaction()); err != nil {
		return nil, err
	}
	if err := c.checkFees(ctx, from, ext.GetTransaction(), energy); err != nil {
		return nil, err
	}
	return c.sign(ext.GetTransaction())
}

// Transact is Send followed by Confirm: it returns the receipt of a
// successful transaction.
func (c *Client) Transact(ctx context.Context, contract btt.Address, data []byte) (*Receipt, error) {
	tx, err := c.Send(ctx, contract, data)
	if err != nil {
		return nil, err
	}
	return c.Confirm(ctx, tx)
}

// checkTrigger checks that the node built the transaction asked for: one
// call of contract with data by from, no TRX attached, the fee limit set.
// A node that answers otherwise is not signed for.
func checkTrigger(ext *api.TransactionExtention, from, contract btt.Address, data []byte, feeLimit int64) error {
	if ext == nil || ext.GetTransaction().GetRawData() == nil {
		return fmt.Errorf("%w: no transaction built", ErrBadResponse)
	}
	if r := ext.GetResult(); r != nil && (r.GetCode() != api.Return_SUCCESS || !r.GetResult()) {
		return &TxRejectedError{Code: r.GetCode().String(), Message: string(r.GetMessage())}
	}
	raw := ext.GetTransaction().GetRawData()
	if len(raw.GetContract()) != 1 || raw.GetContract()[0].GetType() != core.Transaction_Contract_TriggerSmartContract {
		return fmt.Errorf("%w: the node built something other than one contract call", ErrBadResponse)
	}
	var ct core.TriggerSmartContract
	if err := raw.GetContract()[0].GetParameter().UnmarshalTo(&ct); err != nil {
		return fmt.Errorf("%w: contract call: %v", ErrBadResponse, err)
	}
	switch {
	case !bytes.Equal(ct.GetOwnerAddress(), from[:]),
		!bytes.Equal(ct.GetContractAddress(), contract[:]),
		!bytes.Equal(ct.GetData(), data),
		ct.GetCallValue() != 0, ct.GetCallTokenValue() != 0,
		raw.GetFeeLimit() != feeLimit:
		return fmt.Errorf("%w: the node built a transaction other than the call asked for; not signing it", ErrBadResponse)
	}
	return nil
}

// checkFees refuses a transaction the fee limit or the account's TRX
// cannot pay for, before anything is burnt.
func (c *Client) checkFees(ctx context.Context, from btt.Address, tx *core.Transaction, energy int64) error {
	ePrice := c.price(ctx, true)
	acc, err := c.account(ctx, from)
	if err != nil {
		return err
	}
	var res *api.AccountResourceMessage
	_ = c.rpc(ctx, "read resources of "+from.String(), func(ctx context.Context) error {
		var err error
		res, err = c.sdk.GetAccountResourceCtx(ctx, sdkAddr(from))
		if status.Code(err) == codes.Unimplemented {
			res, err = nil, nil
		}
		return err
	})
	// The energy limit must exceed what the simulation used: a CALL passes
	// on only 63/64 of what is left, so a limit of exactly the energy used
	// starves the inner call (the token transfer) and the transaction
	// reverts, fees burnt. A tenth more covers a few levels of calls.
	energy += energy / 10
	energyCost := energy * ePrice
	if res != nil {
		free := max(0, res.GetEnergyLimit()-res.GetEnergyUsed())
		energyCost = max(0, energy-free) * ePrice
	}
	if energyCost > c.cfg.FeeLimit {
		return &OutOfEnergyError{FeeLimit: c.cfg.FeeLimit, Need: energyCost}
	}
	// Bandwidth: the signed transaction plus the result TRON reserves
	// (64 bytes), paid from free and staked bandwidth first.
	size := int64(proto.Size(tx)) + 65 + 3 + 64
	var bwCost int64
	if res != nil {
		avail := max(0, res.GetFreeNetLimit()-res.GetFreeNetUsed()) + max(0, res.GetNetLimit()-res.GetNetUsed())
		if avail < size {
			bwCost = size * c.price(ctx, false)
		}
	}
	if need := energyCost + bwCost; need > acc.GetBalance() {
		return &InsufficientTRXError{Account: from.String(), Need: need, Have: acc.GetBalance()}
	}
	return nil
}

// price is the node's current energy (or bandwidth) price in sun, or the
// default when the node does not say.
func (c *Client) price(ctx context.Context, energy bool) int64 {
	i := 0
	if energy {
		i = 1
	}
	c.mu.Lock()
	p := c.prices[i]
	c.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < priceTTL {
		return p.sun
	}
	sun, ok := c.fetchPrice(ctx, energy)
	if ok {
		c.mu.Lock()
		c.prices[i] = cachedPrice{sun: sun, at: time.Now()}
		c.mu.Unlock()
	}
	return sun
}

// priceTTL is how long a price read from the node is used (they change by
// governance proposals, rarely).
const priceTTL = 10 * time.Minute

type cachedPrice struct {
	sun int64
	at  time.Time
}

// fetchPrice reads a price; ok is false when the node could not be asked
// (the default is then used but not remembered).
func (c *Client) fetchPrice(ctx context.Context, energy bool) (sun int64, ok bool) {
	def := int64(DefaultBandwidthPrice)
	if energy {
		def = DefaultEnergyPrice
	}
	var msg *api.PricesResponseMessage
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var err error
	if energy {
		msg, err = c.sdk.GetEnergyPricesCtx(rctx)
	} else {
		msg, err = c.sdk.GetBandwidthPricesCtx(rctx)
	}
	if err != nil {
		return def, !isTransient(err)
	}
	prices, err := client.ParsePrices(msg.GetPrices())
	if err != nil || len(prices) == 0 || prices[len(prices)-1].Price <= 0 {
		return def, true
	}
	return prices[len(prices)-1].Price, true
}

// sign signs a built transaction with the client's signer.
func (c *Client) sign(raw *core.Transaction) (*Tx, error) {
	tx := proto.Clone(raw).(*core.Transaction)
	tx.Signature = nil
	id, err := SignTx(c.signer, tx)
	if err != nil {
		return nil, err
	}
	return &Tx{ID: id, Expiration: time.UnixMilli(tx.GetRawData().GetExpiration()).UTC(), FeeLimit: tx.GetRawData().GetFeeLimit(), signed: tx}, nil
}

// Rebroadcast sends an already-signed transaction again: safe to repeat
// (the node answers that it has it). An expired transaction gives an error
// wrapping ErrTxExpired: it can never be included, and only then may a
// replacement be signed.
func (c *Client) Rebroadcast(ctx context.Context, tx *Tx) error { return c.broadcast(ctx, tx) }

// ErrTxExpired: a transaction passed its expiration without being
// included; it never will be, so it is safe to sign a new one.
var ErrTxExpired = errors.New("tron: transaction expired without being included")

// broadcast sends a signed transaction, retrying while the node is
// unreachable; a DUP_TRANSACTION answer means the node has it.
func (c *Client) broadcast(ctx context.Context, tx *Tx) error {
	err := c.retry(ctx, "broadcast", func() error {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
		ret, err := c.sdk.BroadcastCtx(rctx, tx.signed)
		if ret == nil && err != nil {
			return unavailable(ctx, "broadcast "+tx.ID.String(), err)
		}
		return c.broadcastResult(tx, ret)
	})
	return afterSend(tx, err)
}

func (c *Client) broadcastResult(tx *Tx, ret *api.Return) error {
	if ret == nil {
		return fmt.Errorf("%w: no answer to a broadcast", ErrBadResponse)
	}
	msg := string(ret.GetMessage())
	switch ret.GetCode() {
	case api.Return_SUCCESS:
		if ret.GetResult() {
			return nil
		}
	case api.Return_DUP_TRANSACTION_ERROR:
		return nil
	case api.Return_SERVER_BUSY, api.Return_NO_CONNECTION, api.Return_NOT_ENOUGH_EFFECTIVE_CONNECTION:
		return fmt.Errorf("%w: tron: broadcast %s: node busy: %s: %s", paychan.ErrChainUnavailable, tx.ID, ret.GetCode(), msg)
	case api.Return_BANDWITH_ERROR:
		return &InsufficientTRXError{Account: c.Address().String(), Detail: "no bandwidth left: " + msg}
	case api.Return_TRANSACTION_EXPIRATION_ERROR:
		return fmt.Errorf("%w: %s expired %s: %s; send it again", ErrTxExpired, tx.ID, tx.Expiration.Format(time.RFC3339), msg)
	case api.Return_CONTRACT_VALIDATE_ERROR:
		low := strings.ToLower(msg)
		if strings.Contains(low, "balance is not sufficient") || strings.Contains(low, "not enough") || strings.Contains(low, "insufficient") {
			return &InsufficientTRXError{Account: c.Address().String(), Detail: msg}
		}
	}
	return &TxRejectedError{TxID: tx.ID.String(), Code: ret.GetCode().String(), Message: msg}
}

// WaitReceipt polls for the receipt of transaction id until it is in a
// block, Config.ReceiptTimeout passes (ErrReceiptTimeout), or ctx ends;
// with FinalitySolid it then waits, up to Config.SolidTimeout, for the
// block to solidify and returns the solidity API's receipt (a transaction
// whose block is dropped meanwhile gives an error wrapping ErrDropped).
// A transaction that failed gives its receipt and a *RevertError (with the
// decoded reason), an *OutOfEnergyError or an error wrapping ErrTxFailed.
func (c *Client) WaitReceipt(ctx context.Context, id TxID) (*Receipt, error) {
	r, err := c.waitHead(ctx, id)
	return c.final(ctx, id, r, err)
}

// waitHead polls for the receipt of transaction id until it is in a block
// of the node's head chain, Config.ReceiptTimeout passes or ctx ends.
func (c *Client) waitHead(ctx context.Context, id TxID) (*Receipt, error) {
	deadline := time.Now().Add(c.cfg.ReceiptTimeout)
	var lastErr error
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("tron: wait for %s: %w", id, ctx.Err())
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		info, err := c.sdk.GetTransactionInfoByIDCtx(rctx, id.String())
		cancel()
		switch {
		case err == nil:
			return c.receipt(id, info)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("tron: wait for %s: %w", id, ctx.Err())
		default:
			if _, isRPC := status.FromError(err); isRPC {
				lastErr = unavailable(ctx, "read receipt of "+id.String(), err)
				if !errors.Is(lastErr, paychan.ErrChainUnavailable) {
					return nil, lastErr
				}
			} else {
				lastErr = nil // not in a block yet
			}
		}
		if !time.Now().Before(deadline) {
			if lastErr != nil {
				return nil, fmt.Errorf("%w for %s after %s: %w", ErrReceiptTimeout, id, c.cfg.ReceiptTimeout, lastErr)
			}
			return nil, fmt.Errorf("%w: %s not in a block after %s", ErrReceiptTimeout, id, c.cfg.ReceiptTimeout)
		}
		t.Reset(min(c.cfg.PollInterval, time.Until(deadline)))
	}
}

// receipt converts a transaction info and reports a failure.
func (c *Client) receipt(id TxID, info *core.TransactionInfo) (*Receipt, error) {
	r := &Receipt{
		TxID:        id,
		BlockNumber: info.GetBlockNumber(),
		BlockTime:   time.UnixMilli(info.GetBlockTimeStamp()).UTC(),
		Fee:         info.GetFee(),
		EnergyUsed:  info.GetReceipt().GetEnergyUsageTotal(),
		NetUsage:    info.GetReceipt().GetNetUsage(),
	}
	if len(info.GetContractAddress()) > 0 {
		a, err := addressFromWire(info.GetContractAddress())
		if err != nil {
			return nil, fmt.Errorf("%w: receipt of %s: %v", ErrBadResponse, id, err)
		}
		r.ContractAddress = a
	}
	if len(info.GetContractResult()) > 0 {
		r.Result = info.GetContractResult()[0]
	}
	for _, l := range info.GetLog() {
		a, err := addressFromWire(l.GetAddress())
		if err != nil {
			return nil, fmt.Errorf("%w: log in receipt of %s: %v", ErrBadResponse, id, err)
		}
		lg := Log{Address: a, Data: l.GetData()}
		for _, t := range l.GetTopics() {
			if len(t) != 32 {
				return nil, fmt.Errorf("%w: log topic of %d bytes in receipt of %s", ErrBadResponse, len(t), id)
			}
			lg.Topics = append(lg.Topics, [32]byte(t))
		}
		r.Logs = append(r.Logs, lg)
	}
	cr := info.GetReceipt().GetResult()
	if info.GetResult() == core.TransactionInfo_SUCESS && (cr == core.Transaction_Result_DEFAULT || cr == core.Transaction_Result_SUCCESS) {
		return r, nil
	}
	msg := string(info.GetResMessage())
	switch cr {
	case core.Transaction_Result_REVERT:
		return r, &RevertError{Reason: revertReason(r.Result, msg), TxID: id.String()}
	case core.Transaction_Result_OUT_OF_ENERGY:
		return r, &OutOfEnergyError{TxID: id.String(), FeeLimit: c.cfg.FeeLimit, EnergyUsed: r.EnergyUsed, Fee: r.Fee}
	}
	if reason := revertReason(r.Result, ""); reason != "" {
		return r, &RevertError{Reason: reason, TxID: id.String()}
	}
	return r, fmt.Errorf("%w: %s: %s: %s (fee %s)", ErrTxFailed, id, cr, msg, formatSun(r.Fee))
}

// Confirm waits for tx's receipt (with FinalitySolid, the solidified
// one: see WaitReceipt); when none comes in ReceiptTimeout, or its block
// is dropped before it solidifies, it rebroadcasts the same signed
// transaction (up to Config.Rebroadcasts times) while it has not expired. A transaction whose outcome is still
// unknown gives a *TxError — ctx ending, the node failing, a receipt that
// does not read; one that expired unincluded an error wrapping
// ErrTxExpired, given only once the chain says it is not in a block.
func (c *Client) Confirm(ctx context.Context, tx *Tx) (*Receipt, error) {
	for i := 0; ; i++ {
		r, err := c.waitHead(ctx, tx.ID)
		if r != nil {
			// In a block: with FinalitySolid, wait for it to solidify.
			// A block dropped meanwhile is as if no receipt came.
			r, err = c.final(ctx, tx.ID, r, err)
			if r != nil {
				return r, err
			}
			if !errors.Is(err, ErrDropped) {
				return nil, &TxError{Tx: tx, Err: err}
			}
		} else if !errors.Is(err, ErrReceiptTimeout) {
			return nil, &TxError{Tx: tx, Err: err}
		}
		if now, nerr := c.Now(ctx); nerr == nil && now.After(tx.Expiration) {
			// One last look: it may have made it into the last block.
			// Only a node that answers "not there" proves it expired.
			r, err2 := c.lookup(ctx, tx.ID)
			if r != nil {
				return r, err2
			}
			if err2 != nil {
				return nil, &TxError{Tx: tx, Err: fmt.Errorf("%w (past its expiration, the last look for its receipt failed)", err2)}
			}
			return nil, fmt.Errorf("%w: %s expired at %s (chain time %s); it is safe to send again", ErrTxExpired, tx.ID, tx.Expiration.Format(time.RFC3339), now.Format(time.RFC3339))
		}
		if i >= c.cfg.Rebroadcasts {
			return nil, &TxError{Tx: tx, Err: err}
		}
		if berr := c.broadcast(ctx, tx); berr != nil {
			if errors.Is(berr, ErrTxExpired) {
				return nil, berr
			}
			var te *TxError
			if errors.As(berr, &te) {
				return nil, berr
			}
			// A refusal of the same bytes the node accepted before
			// proves nothing about the first broadcast.
			return nil, &TxError{Tx: tx, Err: fmt.Errorf("tron: rebroadcast %s: %w", tx.ID, berr)}
		}
	}
}

// lookup reads a receipt once: nil and no error if the transaction is not
// in a block; a receipt and its failure if it is — with FinalitySolid,
// once its block is solidified (it waits for that, as Confirm does; a
// transaction whose block is dropped meanwhile is in none).
func (c *Client) lookup(ctx context.Context, id TxID) (*Receipt, error) {
	r, err := c.lookupHead(ctx, id)
	if r == nil || c.solid == nil {
		return r, err
	}
	r, err = c.waitSolid(ctx, id)
	if errors.Is(err, ErrDropped) {
		return nil, nil
	}
	return r, err
}

// lookupHead reads a receipt once from the node's head chain.
func (c *Client) lookupHead(ctx context.Context, id TxID) (*Receipt, error) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	info, err := c.sdk.GetTransactionInfoByIDCtx(rctx, id.String())
	if err != nil {
		if _, isRPC := status.FromError(err); isRPC {
			return nil, unavailable(ctx, "read receipt of "+id.String(), err)
		}
		return nil, nil
	}
	return c.receipt(id, info)
}

// sdkSafe runs a gotron-sdk call that dereferences parts of the node's
// answer without checking them (TriggerContract's Result, DeployContract's
// Transaction): a node answering without them gets an error, not a crash.
func sdkSafe(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: an answer gotron-sdk could not handle (%v)", ErrBadResponse, r)
		}
	}()
	return f()
}

// refused turns gotron-sdk's error for a node's refusal to build a
// transaction (it keeps only the message) into a *TxRejectedError; RPC
// failures stay as they are.
func refused(err error) error {
	if err == nil || errors.Is(err, ErrBadResponse) {
		return err
	}
	if _, isRPC := status.FromError(err); isRPC {
		return err
	}
	return &TxRejectedError{Message: err.Error()}
}

// TransferTRX sends sun (1 TRX = 1,000,000 sun) to `to` and returns the
// receipt. Sending to a new account creates it (the chain charges a fee
// for that on top).
func (c *Client) TransferTRX(ctx context.Context, to btt.Address, sun int64) (*Receipt, error) {
	if c.signer == nil {
		return nil, ErrNoSigner
	}
	if sun <= 0 {
		return nil, fmt.Errorf("tron: send TRX: %w: amount %d sun", ErrInvalidArgument, sun)
	}
	if to.IsZero() {
		return nil, fmt.Errorf("tron: send TRX: %w: zero address", btt.ErrBadAddress)
	}
	from := c.signer.Address()
	var ext *api.TransactionExtention
	err := c.rpc(ctx, "build a TRX transfer", func(ctx context.Context) error {
		var err error
		ext, err = c.sdk.TransferCtx(ctx, sdkAddr(from), sdkAddr(to), sun)
		return refused(err)
	})
	if err != nil {
		var rej *TxRejectedError
		if errors.As(err, &rej) && strings.Contains(strings.ToLower(rej.Message), "balance is not sufficient") {
			return nil, &InsufficientTRXError{Account: from.String(), Detail: rej.Message}
		}
		return nil, fmt.Errorf("tron: send %s to %s: %w", formatSun(sun), to, err)
	}
	if err := checkTransfer(ext, from, to, sun); err != nil {
		return nil, err
	}
	if err := c.checkBuilt(ctx, ext.GetTransaction()); err != nil {
		return nil, err
	}
	tx, err := c.sign(ext.GetTransaction())
	if err != nil {
		return nil, err
	}
	if err := c.broadcast(ctx, tx); err != nil {
		return nil, fmt.Errorf("tron: send %s to %s: %w", formatSun(sun), to, err)
	}
	r, err := c.Confirm(ctx, tx)
	if err != nil {
		return r, fmt.Errorf("tron: send %s to %s: %w", formatSun(sun), to, err)
	}
	return r, nil
}

func checkTransfer(ext *api.TransactionExtention, from, to btt.Address, sun int64) error {
	if ext == nil || ext.GetTransaction().GetRawData() == nil {
		return fmt.Errorf("%w: no transfer built", ErrBadResponse)
	}
	raw := ext.GetTransaction().GetRawData()
	if len(raw.GetContract()) != 1 || raw.GetContract()[0].GetType() != core.Transaction_Contract_TransferContract {
		return fmt.Errorf("%w: the node built something other than one TRX transfer", ErrBadResponse)
	}
	var ct core.TransferContract
	if err := raw.GetContract()[0].GetParameter().UnmarshalTo(&ct); err != nil {
		return fmt.Errorf("%w: transfer: %v", ErrBadResponse, err)
	}
	if !bytes.Equal(ct.GetOwnerAddress(), from[:]) || !bytes.Equal(ct.GetToAddress(), to[:]) || ct.GetAmount() != sun {
		return fmt.Errorf("%w: the node built a transfer other than the one asked for; not signing it", ErrBadResponse)
	}
	return nil
}
