// Package devbttc starts a BTTC development chain for the example
// commands and their tests: bttc/bttcdev serving JSON-RPC on loopback,
// with accounts funded in native BTT (the gas) and TestToken (the
// deposits' token), TestToken and an EIP-712 BttSpeedEscrow deployed — the
// chain `go run ./examples/devnet -chain bttc` serves, in process.
package devbttc

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"go.uber.org/goleak"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc"
	"github.com/bttspeed/bttspeed/bttc/bttcdev"
)

// Defaults of Config.
var (
	// DefaultGas is each account's native BTT, in wei: a million BTT.
	DefaultGas = new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))
	// DefaultTokens is each account's TestToken.
	DefaultTokens = btt.BTT(1_000_000)
)

// Config configures a Net.
type Config struct {
	// Accounts is how many funded accounts to make (besides the owner,
	// which deploys and mints).
	Accounts int
	// Seed derives the keys (keccak256("bttspeed devnet " + Seed + " " +
	// i), as examples/devnet does); empty makes random ones.
	Seed string
	// ChallengePeriod is the escrow's (default an hour).
	ChallengePeriod time.Duration
	// Period mines a block every Period; zero mines one per transaction.
	Period time.Duration
	// Gas and Tokens fund each account (defaults DefaultGas,
	// DefaultTokens); a zero Tokens with NoTokens set funds none.
	Gas      *big.Int
	Tokens   btt.Amount
	NoTokens bool
}

// Net is a running BTTC development chain with the contracts deployed.
type Net struct {
	Chain *bttcdev.Chain
	// Owner deployed the contracts and mints TestToken.
	Owner *bttc.Client
	// Token is TestToken, Escrow the BttSpeedEscrow for it, created by
	// the transaction EscrowTx (for bttc.WithCreationTx).
	Token, Escrow btt.Address
	EscrowTx      common.Hash
	// Keys are the funded accounts' keys (the owner's not among them).
	Keys []*ecdsa.PrivateKey
}

// Key derives key i of seed as examples/devnet does.
func Key(seed string, i int) (*ecdsa.PrivateKey, error) {
	if seed == "" {
		return crypto.GenerateKey()
	}
	return crypto.ToECDSA(crypto.Keccak256([]byte("bttspeed devnet " + seed + " " + strconv.Itoa(i))))
}

// Start starts the chain on 127.0.0.1 (a free port), deploys the
// contracts and funds the accounts. Close stops it.
func Start(ctx context.Context, cfg Config) (*Net, error) {
	if cfg.Accounts < 0 {
		return nil, fmt.Errorf("devbttc: %d accounts", cfg.Accounts)
	}
	if cfg.ChallengePeriod == 0 {
		cfg.ChallengePeriod = time.Hour
	}
	if cfg.Gas == nil {
		cfg.Gas = DefaultGas
	}
	if cfg.Tokens.IsZero() && !cfg.NoTokens {
		cfg.Tokens = DefaultTokens
	}
	keys := make([]*ecdsa.PrivateKey, cfg.Accounts+1) // keys[0] deploys and mints
	alloc := map[common.Address]*big.Int{}
	for i := range keys {
		k, err := Key(cfg.Seed, i)
		if err != nil {
			return nil, fmt.Errorf("devbttc: key %d: %w", i, err)
		}
		keys[i] = k
		switch {
		case i == 0:
			alloc[crypto.PubkeyToAddress(k.PublicKey)] = DefaultGas
		case cfg.Gas.Sign() > 0:
			alloc[crypto.PubkeyToAddress(k.PublicKey)] = cfg.Gas
		}
	}
	ch, err := bttcdev.Start(bttcdev.Config{Alloc: alloc, Period: cfg.Period})
	if err != nil {
		return nil, fmt.Errorf("devbttc: %w", err)
	}
	n := &Net{Chain: ch, Keys: keys[1:]}
	if err := n.deploy(ctx, keys[0], cfg); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	return n, nil
}

func (n *Net) deploy(ctx context.Context, owner *ecdsa.PrivateKey, cfg Config) error {
	var err error
	n.Owner, err = bttc.Dial(ctx, bttc.Config{URL: n.Chain.URL(), Key: owner, Confirmations: 1, PollInterval: 20 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("devbttc: %w", err)
	}
	if n.Token, _, err = bttc.DeployTestToken(ctx, n.Owner); err != nil {
		return fmt.Errorf("devbttc: %w", err)
	}
	escrow, r, err := bttc.DeployEscrow(ctx, n.Owner, n.Token, cfg.ChallengePeriod)
	if err != nil {
		return fmt.Errorf("devbttc: %w", err)
	}
	n.Escrow, n.EscrowTx = escrow, r.TxHash
	if cfg.Tokens.IsZero() {
		return nil
	}
	for i := range n.Keys {
		if _, err := bttc.Mint(ctx, n.Owner, n.Token, n.Account(i), cfg.Tokens); err != nil {
			return fmt.Errorf("devbttc: %w", err)
		}
	}
	return nil
}

// URL is the chain's JSON-RPC endpoint.
func (n *Net) URL() string { return n.Chain.URL() }

// Account is account i's address.
func (n *Net) Account(i int) btt.Address {
	return btt.AddressFromEVM(crypto.PubkeyToAddress(n.Keys[i].PublicKey))
}

// KeyHex is account i's key in hex, as $BTTSPEED_KEY takes it.
func (n *Net) KeyHex(i int) string { return hex.EncodeToString(crypto.FromECDSA(n.Keys[i])) }

// EscrowHex is the escrow's 0x address, as -escrow takes it.
func (n *Net) EscrowHex() string { return common.Address(n.Escrow.EVM()).Hex() }

// Close stops the chain.
func (n *Net) Close() error {
	var errs []error
	if n.Owner != nil {
		errs = append(errs, n.Owner.Close())
	}
	errs = append(errs, n.Chain.Close())
	return errors.Join(errs...)
}

// LeakOptions are the goroutines go-ethereum starts once per process and
// never stops (its transaction-sender cache; leveldb's pool drain), for a
// test's goleak check.
var LeakOptions = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/ethereum/go-ethereum/core.(*txSenderCacher).cache"),
	goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
}
