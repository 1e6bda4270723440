// Package chain connects the example commands to the chain their payments
// are escrowed on: TRON (the embedded devnet by default, or a node's gRPC
// host:port with -chain) or BitTorrent Chain (a JSON-RPC URL, http(s):// or
// ws(s)://, with -chain); the key from BTTSPEED_KEY or a keystore file; the
// escrow from -escrow or, on a bttspeed TRON devnet, found; and the wallet
// checks that tell an operator what is missing. Above Connect, both chains
// are one paychan.Escrow.
//
// Environment variables (secrets never come from flags):
//
//	BTTSPEED_KEY            the account's private key, 64 hex digits
//	BTTSPEED_PASSPHRASE     the passphrase of the -keystore file
//	BTTSPEED_TRON_APIKEY    a TronGrid API key, if the node wants one
//	BTTSPEED_TRON_SOLIDITY  the TRON node's solidity API host:port (-solidity)
package chain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// Environment variables the commands read.
const (
	EnvKey        = "BTTSPEED_KEY"
	EnvPassphrase = "BTTSPEED_PASSPHRASE"
	EnvAPIKey     = "BTTSPEED_TRON_APIKEY"
	EnvSolidity   = "BTTSPEED_TRON_SOLIDITY"
)

// Env looks up an environment variable (os.LookupEnv, or a map in tests).
type Env func(key string) (string, bool)

// Flags are the chain flags both commands take.
type Flags struct {
	// Node is the TRON node's gRPC host:port, or a BTTC node's JSON-RPC
	// URL (http, https, ws or wss), given with -chain; empty starts the
	// embedded TRON devnet.
	Node string
	// Escrow is the BttSpeedEscrow contract (-escrow); empty finds it on
	// a bttspeed TRON devnet (see FindEscrow). BTTC needs it.
	Escrow string
	// EscrowTx is the hash of the transaction that created the escrow on
	// BTTC (-escrow-tx): given, the escrow is proven to have started
	// empty (bttc.WithCreationTx).
	EscrowTx string
	// Solidity is the TRON node's solidity API host:port (-solidity, or
	// $BTTSPEED_TRON_SOLIDITY); empty: the -chain address (the devnet
	// serves both; java-tron serves it on its own port, 50061).
	Solidity string
	// Confirmations is how many blocks, the receipt's included, make a
	// BTTC transaction count (-confirmations); 0: 1 for a loopback -chain
	// (a dev chain mines only on demand), bttc's default otherwise.
	Confirmations uint64
	// Keystore is a keystore file (-keystore), decrypted with
	// BTTSPEED_PASSPHRASE.
	Keystore string
	// Insecure dials without TLS (-chain-insecure); by default it is on
	// for loopback nodes and off for others.
	Insecure    bool
	insecureSet bool
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Node, "chain", "", "TRON node gRPC host:port (e.g. the grpc: address that go run ./examples/devnet prints), or a BitTorrent Chain JSON-RPC URL, http(s):// or ws(s):// (go run ./examples/devnet -chain bttc prints one); empty: an embedded TRON devnet inside this process")
	fs.StringVar(&f.Escrow, "escrow", "", "BttSpeedEscrow contract address (T… or 41… hex on TRON, 0x… on BTTC); empty with a TRON -chain: find it in the first blocks of a bttspeed devnet")
	fs.StringVar(&f.EscrowTx, "escrow-tx", "", "BTTC only: the hash (0x…) of the transaction that deployed -escrow, to prove it started with no channel planted")
	fs.StringVar(&f.Solidity, "solidity", "", "TRON only: the node's solidity API host:port (default $"+EnvSolidity+", else the -chain address; java-tron serves it on port 50061)")
	fs.Uint64Var(&f.Confirmations, "confirmations", 0, "BTTC only: blocks, the receipt's included, before a transaction counts (default: 1 for a loopback -chain, 3 otherwise)")
	fs.StringVar(&f.Keystore, "keystore", "", "keystore file (mode 0600) with the account's key; passphrase from $"+EnvPassphrase+" (otherwise the key comes from $"+EnvKey+")")
	fs.Func("chain-insecure", "dial the node without TLS (default: true for a loopback -chain, false otherwise)", func(s string) error {
		switch s {
		case "true", "1":
			f.Insecure = true
		case "false", "0":
			f.Insecure = false
		default:
			return fmt.Errorf("want true or false")
		}
		f.insecureSet = true
		return nil
	})
}

// IsBTTC reports whether -chain names a BTTC node: a JSON-RPC URL.
func (f Flags) IsBTTC() bool { return IsRPCURL(f.Node) }

// IsRPCURL reports whether s is an http(s):// or ws(s):// URL: an EVM
// node's JSON-RPC endpoint, where a TRON node is host:port.
func IsRPCURL(s string) bool {
	for _, p := range []string{"http://", "https://", "ws://", "wss://"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return false
}

// insecure reports whether to dial without TLS.
func (f Flags) insecure() bool {
	if f.insecureSet {
		return f.Insecure
	}
	host, _, err := net.SplitHostPort(f.Node)
	if err != nil {
		return false
	}
	return isLoopback(host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Check validates the flags without touching the network.
func (f Flags) Check() error {
	if f.IsBTTC() {
		return f.checkBTTC()
	}
	if f.EscrowTx != "" {
		return cli.Setupf("-escrow-tx is for a BTTC -chain (an http(s):// or ws(s):// URL); TRON proves the escrow's creation by itself")
	}
	if f.Confirmations != 0 {
		return cli.Setupf("-confirmations is for a BTTC -chain; TRON waits for solidified blocks")
	}
	if f.Solidity != "" {
		if _, _, err := net.SplitHostPort(f.Solidity); err != nil {
			return cli.Setupf("-solidity %q: want the solidity API's host:port, such as 127.0.0.1:50061: %v", f.Solidity, err)
		}
		if f.Node == "" {
			return cli.Setupf("-solidity needs -chain: the embedded devnet serves its own")
		}
	}
	if f.Node != "" {
		if _, _, err := net.SplitHostPort(f.Node); err != nil {
			return cli.Setupf("-chain %q: want the node's gRPC host:port, such as 127.0.0.1:50051: %v", f.Node, err)
		}
	} else if f.Escrow != "" {
		return cli.Setupf("-escrow needs -chain: the embedded devnet deploys its own escrow")
	}
	if f.Escrow != "" {
		if _, err := btt.ParseAddress(f.Escrow); err != nil {
			return cli.Setupf("-escrow %q: %w", f.Escrow, err)
		}
	}
	return nil
}

// Escrow is what the commands use of an escrow, on either chain: a
// *tron.Escrow or a *bttc.Escrow.
type Escrow interface {
	paychan.Escrow
	paychan.OpenFinder
	paychan.TxKeeper
	// Address is the escrow contract's address.
	Address() btt.Address
}

var (
	_ Escrow = (*tron.Escrow)(nil)
	_ Escrow = (*bttc.Escrow)(nil)
)

// Client reads an account's balances on either chain.
type Client interface {
	// BalanceOf is who's balance of an ERC-20/TRC-20 token, in base units.
	BalanceOf(ctx context.Context, token, who btt.Address) (btt.Amount, error)
	// GasBalance is who's balance of what pays the chain's fees, in its
	// smallest unit: sun of TRX on TRON, wei of native BTT on BTTC.
	GasBalance(ctx context.Context, who btt.Address) (btt.Amount, error)
	// Close closes the connection.
	Close() error
}

// Chain is a connection to a chain with the command's account.
type Chain struct {
	Client Client
	Escrow Escrow
	Domain paychan.Domain
	Signer paychan.Signer
	// Gas is what pays the chain's fees.
	Gas Gas
	// Node is the embedded TRON devnet (nil with -chain).
	Node *devnet.Node
	// Addr is the node's gRPC address, or its JSON-RPC URL on BTTC.
	Addr string
	// Args are the flags that reach this chain and escrow again (-chain,
	// and -escrow, -escrow-tx, -solidity as given), for the hints a
	// command prints; empty on the embedded devnet.
	Args []string
}

// argsOf are the flags of f that name the chain and escrow.
func argsOf(f Flags) []string {
	if f.Node == "" {
		return nil
	}
	args := []string{"-chain", f.Node}
	for _, a := range [][2]string{{"-escrow", f.Escrow}, {"-escrow-tx", f.EscrowTx}, {"-solidity", f.Solidity}} {
		if a[1] != "" {
			args = append(args, a[0], a[1])
		}
	}
	return args
}

// Retry bounds the retries of chain calls the commands make: a node that is
// down is reported after about a second at start, and the Redeemer retries
// later with its own back-off.
var Retry = tron.Retry{Attempts: 3, Base: 200 * time.Millisecond, Max: 2 * time.Second}

// Connect loads the key and connects to the chain the flags name. With no
// key and the embedded devnet, it uses the devnet's first funded key
// (keyIndex picks another, so a seeder and a leecher differ). Every error
// is a setup error: the command cannot start.
func Connect(ctx context.Context, f Flags, env Env, keyIndex int, log *slog.Logger) (*Chain, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	if f.IsBTTC() {
		return connectBTTC(ctx, f, env, log)
	}
	if f.Solidity == "" && f.Node != "" {
		if v, ok := env(EnvSolidity); ok && v != "" {
			f.Solidity = v
			if _, _, err := net.SplitHostPort(f.Solidity); err != nil {
				return nil, cli.Setupf("$%s %q: want the solidity API's host:port: %v", EnvSolidity, f.Solidity, err)
			}
		}
	}
	key, err := LoadKey(f.Keystore, env, f.Node == "")
	if err != nil {
		return nil, err
	}
	c := &Chain{Addr: f.Node, Gas: TRX, Args: argsOf(f)}
	insecure := f.insecure()
	if f.Node == "" {
		node, err := devnet.Start(ctx, devnet.Config{DeployContracts: true, Accounts: 2})
		if err != nil {
			return nil, cli.Setupf("starting the embedded devnet: %w", err)
		}
		c.Node, c.Addr, insecure = node, node.Addr(), true
		if key == nil {
			k, err := tron.NewKeySigner(node.Keys()[keyIndex%len(node.Keys())])
			if err != nil {
				node.Close()
				return nil, cli.Setup(err)
			}
			key = k
		}
		log.Info("embedded devnet: payments stay inside this process; use -chain to share a chain with other processes", "grpc", node.Addr(), "chain_id", node.ChainID())
	}
	c.Signer = key
	apiKey, _ := env(EnvAPIKey)
	tc, err := tron.Dial(ctx, tron.Config{Addr: c.Addr, Insecure: insecure, APIKey: apiKey, Signer: key, Retry: Retry, SolidityAddr: f.Solidity})
	if err != nil {
		c.Close()
		return nil, cli.Setupf("cannot reach the TRON node at %s (is it running? `go run ./examples/devnet` starts one; a remote node may need -chain-insecure=false, an API key, or -solidity for its solidity API): %w", c.Addr, err)
	}
	c.Client = tronClient{tc}
	escrowAddr := btt.Address{}
	switch {
	case c.Node != nil:
		escrowAddr = c.Node.Escrow()
	case f.Escrow != "":
		escrowAddr, _ = btt.ParseAddress(f.Escrow)
	default:
		escrowAddr, err = FindEscrow(ctx, c.Addr, insecure)
		if err != nil {
			c.Close()
			return nil, cli.Setup(err)
		}
		log.Info("found the escrow on the devnet", "escrow", escrowAddr)
	}
	c.Escrow, err = tron.NewEscrow(tc, escrowAddr)
	if err != nil {
		c.Close()
		return nil, cli.Setup(err)
	}
	c.Domain, err = c.Escrow.Domain(ctx)
	if err != nil {
		c.Close()
		return nil, cli.Setupf("the escrow %s does not answer as a BttSpeedEscrow (check -escrow): %w", escrowAddr, err)
	}
	return c, nil
}

// Close closes the connection and stops the embedded devnet.
func (c *Chain) Close() error {
	var errs []error
	if c.Client != nil {
		errs = append(errs, c.Client.Close())
	}
	if c.Node != nil {
		errs = append(errs, c.Node.Close())
	}
	return errors.Join(errs...)
}

// tronClient is a *tron.Client as a Client.
type tronClient struct{ *tron.Client }

// GasBalance implements Client: sun of TRX.
func (c tronClient) GasBalance(ctx context.Context, who btt.Address) (btt.Amount, error) {
	sun, err := c.TRXBalance(ctx, who)
	if err != nil {
		return btt.Amount{}, err
	}
	return btt.NewAmount(uint64(max(sun, 0))), nil
}

// Account is the command's address.
func (c *Chain) Account() btt.Address { return c.Signer.Address() }

// LoadKey loads the account's key from the keystore file or BTTSPEED_KEY.
// With neither, it returns nil if optional (the embedded devnet picks
// one), an error otherwise. The key and passphrase never appear in an
// error.
func LoadKey(keystore string, env Env, optional bool) (*tron.KeySigner, error) {
	hexKey, haveKey := env(EnvKey)
	if keystore != "" && haveKey {
		return nil, cli.Setupf("both -keystore and $%s are set: use one", EnvKey)
	}
	if keystore != "" {
		pass, ok := env(EnvPassphrase)
		if !ok {
			return nil, cli.Setupf("-keystore %s: set its passphrase in $%s", keystore, EnvPassphrase)
		}
		k, err := tron.LoadKeystore(keystore, pass)
		if err != nil {
			return nil, cli.Setupf("-keystore: %w", err)
		}
		return k, nil
	}
	if haveKey {
		k, err := tron.ParseKeyHex(hexKey)
		if err != nil {
			return nil, cli.Setupf("$%s: %w", EnvKey, err)
		}
		return k, nil
	}
	if optional {
		return nil, nil
	}
	return nil, cli.Setupf("no key: set $%s to the account's private key in hex, or give -keystore FILE with $%s", EnvKey, EnvPassphrase)
}
