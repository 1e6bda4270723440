// Package chain connects the example commands to TRON: the embedded devnet
// by default, or a running node with -chain; the key from BTTSPEED_KEY or
// a keystore file; the escrow from -escrow or found on a bttspeed devnet;
// and the wallet checks that tell an operator what is missing.
//
// Environment variables (secrets never come from flags):
//
//	BTTSPEED_KEY          the account's private key, 64 hex digits
//	BTTSPEED_PASSPHRASE   the passphrase of the -keystore file
//	BTTSPEED_TRON_APIKEY  a TronGrid API key, if the node wants one
package chain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/bttspeed/bttspeed/btt"
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
)

// Env looks up an environment variable (os.LookupEnv, or a map in tests).
type Env func(key string) (string, bool)

// Flags are the chain flags both commands take.
type Flags struct {
	// Node is the TRON node's gRPC host:port (-chain); empty starts the
	// embedded devnet.
	Node string
	// Escrow is the BttSpeedEscrow contract (-escrow); empty finds it on
	// a bttspeed devnet (see FindEscrow).
	Escrow string
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
	fs.StringVar(&f.Node, "chain", "", "TRON node gRPC host:port (e.g. the grpc: address that go run ./examples/devnet prints); empty: an embedded devnet inside this process")
	fs.StringVar(&f.Escrow, "escrow", "", "BttSpeedEscrow contract address (T… or 41… hex); empty with -chain: find it in the first blocks of a bttspeed devnet")
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

// insecure reports whether to dial without TLS.
func (f Flags) insecure() bool {
	if f.insecureSet {
		return f.Insecure
	}
	host, _, err := net.SplitHostPort(f.Node)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Check validates the flags without touching the network.
func (f Flags) Check() error {
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

// Chain is a connection to a TRON chain with the command's account.
type Chain struct {
	Client *tron.Client
	Escrow *tron.Escrow
	Domain paychan.Domain
	Signer *tron.KeySigner
	// Node is the embedded devnet (nil with -chain).
	Node *devnet.Node
	// Addr is the node's gRPC address.
	Addr string
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
	key, err := LoadKey(f.Keystore, env, f.Node == "")
	if err != nil {
		return nil, err
	}
	c := &Chain{Addr: f.Node}
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
	c.Client, err = tron.Dial(ctx, tron.Config{Addr: c.Addr, Insecure: insecure, APIKey: apiKey, Signer: key, Retry: Retry})
	if err != nil {
		c.Close()
		return nil, cli.Setupf("cannot reach the TRON node at %s (is it running? `go run ./examples/devnet` starts one; a remote node may need -chain-insecure=false or an API key): %w", c.Addr, err)
	}
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
	c.Escrow, err = tron.NewEscrow(c.Client, escrowAddr)
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
