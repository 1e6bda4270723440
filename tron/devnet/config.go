package devnet

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// SunPerTRX is the number of sun in one TRX.
const SunPerTRX int64 = 1_000_000

// Defaults and fixed parameters. The prices are mainnet's at the time of
// writing.
const (
	// DefaultListen is where the node listens when Config.Listen is empty:
	// a free port on the loopback interface.
	DefaultListen = "127.0.0.1:0"
	// DefaultAccounts is the number of funded keys when Config.Accounts is 0.
	DefaultAccounts = 4
	// DefaultAccountTRX is what each funded key gets when
	// Config.AccountTRX is 0: one million TRX.
	DefaultAccountTRX = 1_000_000 * SunPerTRX
	// DefaultEnergyPrice is the price of energy in sun.
	DefaultEnergyPrice int64 = 210
	// DefaultBandwidthPrice is the price of a byte of bandwidth in sun.
	DefaultBandwidthPrice int64 = 1000
	// DefaultFreeBandwidth is each account's free bandwidth a day, in bytes.
	DefaultFreeBandwidth int64 = 600
	// DefaultCreateAccountFee is what a transfer creating an account pays
	// instead of bandwidth (getCreateAccountFee), in sun.
	DefaultCreateAccountFee int64 = 100_000
	// DefaultCreateAccountSystemFee is what a transfer creating an account
	// pays on top of its amount (getCreateNewAccountFeeInSystemContract).
	DefaultCreateAccountSystemFee int64 = 1_000_000
	// DefaultMemoFee is what a transaction with a memo (raw_data.data)
	// pays on top of its bandwidth, in sun (getMemoFee, 1 TRX on mainnet).
	DefaultMemoFee int64 = 1_000_000
	// DefaultChallengePeriod is the escrow's challenge period when
	// Config.ChallengePeriod is 0.
	DefaultChallengePeriod = time.Hour

	// DefaultChainID is block.chainid when Config.ChainID is 0: the last
	// 4 bytes of the fixed genesis block's id (tron.DevnetChainID).
	DefaultChainID uint32 = 0xf629ebcd
	// MinChallengePeriod and MaxChallengePeriod bound Config.ChallengePeriod
	// as the escrow's constructor bounds its challenge period.
	MinChallengePeriod = time.Minute
	MaxChallengePeriod = 30 * 24 * time.Hour

	// BlockTime is the chain time between two blocks.
	BlockTime = 3 * time.Second
	// MaxFeeLimit is the largest fee_limit a transaction may set, in sun.
	MaxFeeLimit int64 = 15_000 * SunPerTRX
	// TxExpiration is how long after the head block the transactions the
	// node builds expire.
	TxExpiration = 60 * time.Second
	// MaxConstantEnergy is the energy a constant call may use.
	MaxConstantEnergy uint64 = 100_000_000
	// MaxTxSize is the largest transaction accepted, in bytes.
	MaxTxSize = 500 * 1024
)

// DefaultTokenMint is what each funded key gets of the test token when
// Config.TokenMint is zero: one million tokens of 18 decimals.
var DefaultTokenMint = btt.BTT(1_000_000)

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("devnet: invalid config")

// Config configures a node. The zero value is a valid configuration: four
// random funded keys, no contracts, blocks on demand, mainnet prices.
type Config struct {
	// Listen is the address the gRPC server listens on (default
	// 127.0.0.1:0, a free port). It must be a loopback IP.
	Listen string

	// Accounts is the number of funded keys (default 4).
	Accounts int
	// Seed derives the funded keys (and the operator's); empty means
	// random keys.
	Seed string
	// AccountTRX is each funded key's balance at genesis, in sun (default
	// one million TRX).
	AccountTRX int64

	// ChainID, when not 0, replaces the last 4 bytes of the genesis block
	// id and so is block.chainid. By default it is derived from the fixed
	// devnet genesis block, the same on every run.
	ChainID uint32
	// GenesisTime is where the chain clock starts (default: now, to the
	// second). Block 1 is mined at it.
	GenesisTime time.Time
	// BlockInterval, when > 0, mines a block every BlockInterval of real
	// time and makes the clock follow the wall clock. When 0 (the
	// default), broadcasts are mined at once and the clock only moves with
	// Advance (and with blocks mined ahead of it).
	BlockInterval time.Duration
	// SolidLag is how many blocks the solidified block (what the
	// WalletSolidity service answers from) is behind the head, 0 to
	// MaxSolidLag. TRON's is about 19; the default, 0, makes every block
	// solid as it is mined, so that with blocks on demand a client that
	// waits for solidity gets its receipt at once. Blocks above the
	// solidified one can be dropped (DropBlocks). The blocks Start mines
	// are solid.
	SolidLag int

	// DeployContracts deploys the test token and the escrow in block 1 and
	// mints TokenMint to every funded key.
	DeployContracts bool
	// ChallengePeriod is the escrow's challenge period, a whole number of
	// seconds (default one hour).
	ChallengePeriod time.Duration
	// TokenMint is what each funded key gets of the test token (default
	// one million tokens).
	TokenMint btt.Amount

	// EnergyPrice is the price of energy in sun (default 210).
	EnergyPrice int64
	// BandwidthPrice is the price of a byte of bandwidth in sun (default
	// 1000).
	BandwidthPrice int64
	// FreeBandwidth is each account's free bandwidth a day in bytes
	// (default 600). Set it to -1 for none.
	FreeBandwidth int64
	// CreateAccountFee is what a transfer creating an account pays instead
	// of bandwidth, in sun (default 0.1 TRX). -1 for none.
	CreateAccountFee int64
	// CreateAccountSystemFee is what a transfer creating an account pays on
	// top of the amount, in sun (default 1 TRX). -1 for none.
	CreateAccountSystemFee int64
	// MemoFee is what a transaction with a memo pays on top of its
	// bandwidth, in sun (default 1 TRX). -1 for none.
	MemoFee int64
}

// withDefaults checks cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return cfg, fmt.Errorf("%w: Listen %q: %v", ErrConfig, cfg.Listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return cfg, fmt.Errorf("%w: Listen %q: the devnet listens on a loopback IP only (127.0.0.1)", ErrConfig, cfg.Listen)
	}
	switch {
	case cfg.Accounts < 0:
		return cfg, fmt.Errorf("%w: Accounts %d < 0", ErrConfig, cfg.Accounts)
	case cfg.Accounts == 0:
		cfg.Accounts = DefaultAccounts
	case cfg.Accounts > 10_000:
		return cfg, fmt.Errorf("%w: Accounts %d > 10000", ErrConfig, cfg.Accounts)
	}
	if err := defaultSun(&cfg.AccountTRX, DefaultAccountTRX, "AccountTRX", false); err != nil {
		return cfg, err
	}
	if cfg.GenesisTime.IsZero() {
		cfg.GenesisTime = time.Now().Truncate(time.Second)
	}
	if cfg.GenesisTime.UnixMilli() < BlockTime.Milliseconds() {
		return cfg, fmt.Errorf("%w: GenesisTime %v is before 1970", ErrConfig, cfg.GenesisTime)
	}
	if cfg.SolidLag < 0 || cfg.SolidLag > MaxSolidLag {
		return cfg, fmt.Errorf("%w: SolidLag %d is not from 0 to %d", ErrConfig, cfg.SolidLag, MaxSolidLag)
	}
	if cfg.BlockInterval < 0 {
		return cfg, fmt.Errorf("%w: BlockInterval %v < 0", ErrConfig, cfg.BlockInterval)
	}
	switch {
	case cfg.ChallengePeriod == 0:
		cfg.ChallengePeriod = DefaultChallengePeriod
	case cfg.ChallengePeriod < MinChallengePeriod || cfg.ChallengePeriod > MaxChallengePeriod || cfg.ChallengePeriod%time.Second != 0:
		return cfg, fmt.Errorf("%w: ChallengePeriod %v is not a whole number of seconds from %v to %v (the escrow's bounds)", ErrConfig, cfg.ChallengePeriod, MinChallengePeriod, MaxChallengePeriod)
	}
	if cfg.TokenMint.IsZero() {
		cfg.TokenMint = DefaultTokenMint
	}
	if err := defaultSun(&cfg.EnergyPrice, DefaultEnergyPrice, "EnergyPrice", false); err != nil {
		return cfg, err
	}
	if err := defaultSun(&cfg.BandwidthPrice, DefaultBandwidthPrice, "BandwidthPrice", false); err != nil {
		return cfg, err
	}
	if err := defaultSun(&cfg.FreeBandwidth, DefaultFreeBandwidth, "FreeBandwidth", true); err != nil {
		return cfg, err
	}
	if err := defaultSun(&cfg.CreateAccountFee, DefaultCreateAccountFee, "CreateAccountFee", true); err != nil {
		return cfg, err
	}
	if err := defaultSun(&cfg.CreateAccountSystemFee, DefaultCreateAccountSystemFee, "CreateAccountSystemFee", true); err != nil {
		return cfg, err
	}
	if err := defaultSun(&cfg.MemoFee, DefaultMemoFee, "MemoFee", true); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// defaultSun fills a zero *v with def; -1 means 0 when none is allowed.
func defaultSun(v *int64, def int64, name string, noneAllowed bool) error {
	switch {
	case *v == 0:
		*v = def
	case *v == -1 && noneAllowed:
		*v = 0
	case *v < 0:
		return fmt.Errorf("%w: %s %d < 0", ErrConfig, name, *v)
	case *v > MaxFeeLimit*1_000_000:
		return fmt.Errorf("%w: %s %d is implausibly large", ErrConfig, name, *v)
	}
	return nil
}
