// Command deploy puts bttspeed's escrow contract (BttSpeedEscrow) on a TRON
// network, for a seeder and its leechers to use there — Nile for a trial,
// mainnet for real — and prints its address for their -escrow flag. Given
// a JSON-RPC URL (http(s):// or ws(s)://) for -chain, it deploys to
// BitTorrent Chain instead (Donau for a trial), the escrow checking EIP-712
// vouchers, and also prints the creating transaction's hash for the
// seeder's and leechers' -escrow-tx.
//
//	BTTSPEED_KEY=<hex key> go run ./examples/deploy -chain grpc.nile.trongrid.io:50051 -test-token
//	BTTSPEED_KEY=<hex key> go run ./examples/deploy -chain grpc.trongrid.io:50051 -token TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4
//	BTTSPEED_KEY=<hex key> go run ./examples/deploy -chain https://pre-rpc.bt.io -test-token
//
// -token is the TRC-20 token deposits are held in (by default mainnet's BTT);
// -test-token deploys the mintable TestToken first instead, and mints
// -mint of it to the deploying account (for test networks, where BTT is not
// deployed). The key comes from $BTTSPEED_KEY or -keystore FILE with
// $BTTSPEED_PASSPHRASE, never from the command line. The account pays the
// deployment's energy in TRX (about 300 TRX at mainnet prices for the
// escrow; see tron's package doc for costs). A TronGrid API key, if the node
// wants one, comes from $BTTSPEED_TRON_APIKEY.
//
// On BTTC the account pays the gas in native BTT, -token is the ERC-20
// deposits are held in (required, or -test-token), and -fee-limit does not
// apply (bttc's fee cap does).
//
// Standard output carries "key: value" lines for scripts: chain:, account:,
// token:, escrow:, and on BTTC escrow-tx:. Exit codes: 0 deployed, 1 the deployment failed, 2 could
// not start (bad flag, no key, unreachable node).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/tron"
)

// MainnetBTT is BTT's TRC-20 contract on TRON mainnet.
const MainnetBTT = "TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4"

type config struct {
	node      string
	insecure  bool
	keystore  string
	token     string
	testToken bool
	mint      string
	challenge time.Duration
	timeout   time.Duration
	feeLimit  int64
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.Report(os.Stderr, "deploy", run(ctx, os.Args[1:], os.Getenv, os.Stdout)))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	var c config
	fs.StringVar(&c.node, "chain", "", "the TRON node's gRPC `host:port`, or a BTTC node's JSON-RPC URL, http(s):// or ws(s):// (required)")
	fs.BoolVar(&c.insecure, "chain-insecure", false, "dial without TLS (on by default for loopback nodes)")
	fs.StringVar(&c.keystore, "keystore", "", "a keystore `file` holding the account's key (passphrase in $BTTSPEED_PASSPHRASE); else $BTTSPEED_KEY")
	fs.StringVar(&c.token, "token", MainnetBTT, "the TRC-20 (on BTTC: ERC-20, no default) token `address` deposits are held in")
	fs.BoolVar(&c.testToken, "test-token", false, "deploy the mintable test token first and use it (test networks)")
	fs.StringVar(&c.mint, "mint", "1000", "with -test-token, how many test tokens to mint to the account (BTT with decimals)")
	fs.DurationVar(&c.challenge, "challenge", time.Hour, "the payee's window to redeem after a payer's early close")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up after this long")
	fs.Int64Var(&c.feeLimit, "fee-limit", 1000, "the most one deployment may burn for energy, in `TRX`")
	if err := cli.Parse(fs, args, 0); err != nil {
		return err
	}
	if c.node == "" {
		return cli.Setupf("-chain is required: the node to deploy on (host:port, or a BTTC JSON-RPC URL)")
	}
	if chain.IsRPCURL(c.node) {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		return deployBTTC(ctx, c, given, getenv, stdout)
	}
	if c.feeLimit <= 0 || c.feeLimit > 15000 {
		return cli.Setupf("-fee-limit %d: want 1 to 15000 TRX (TRON's cap)", c.feeLimit)
	}
	if c.challenge < time.Second || c.challenge%time.Second != 0 {
		return cli.Setupf("-challenge %v: want whole seconds, at least 1s", c.challenge)
	}
	token, err := btt.ParseAddress(c.token)
	if err != nil && !c.testToken {
		return cli.Setupf("-token: %v", err)
	}
	mint, err := cli.ParseBTT("-mint", c.mint)
	if err != nil {
		return err
	}
	key, err := chain.LoadKey(c.keystore, func(k string) (string, bool) { v := getenv(k); return v, v != "" }, false)
	if err != nil {
		return cli.Setup(err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	client, err := tron.Dial(ctx, tron.Config{Addr: c.node, Insecure: c.insecure || isLoopback(c.node), APIKey: getenv("BTTSPEED_TRON_APIKEY"), Signer: key, FeeLimit: c.feeLimit * tron.SunPerTRX})
	if err != nil {
		return cli.Setup(err)
	}
	defer client.Close()
	id, err := client.ChainID(ctx)
	if err != nil {
		return cli.Setup(err)
	}
	fmt.Fprintf(stdout, "chain: %s (chain id 0x%x)\naccount: %s\n", c.node, id, key.Address())
	if c.testToken {
		if token, err = tron.DeployTestToken(ctx, client); err != nil {
			return fmt.Errorf("deploying the test token: %w", err)
		}
		if !mint.IsZero() {
			if _, err := tron.MintTestToken(ctx, client, token, key.Address(), mint); err != nil {
				return fmt.Errorf("minting test tokens: %w", err)
			}
		}
	}
	fmt.Fprintf(stdout, "token: %s\n", token)
	esc, err := tron.DeployEscrow(ctx, client, token, c.challenge)
	if err != nil {
		return fmt.Errorf("deploying the escrow: %w", err)
	}
	// Check the deployment the way a seeder will: the contract's voucher
	// digest must be ours.
	if _, err := esc.Domain(ctx); err != nil {
		return fmt.Errorf("the deployed escrow does not check out: %w", err)
	}
	fmt.Fprintf(stdout, "escrow: %s\n", esc.Address())
	return nil
}

// isLoopback reports whether the node is on this machine, where TLS is off
// by default.
func isLoopback(node string) bool {
	host, _, err := net.SplitHostPort(node)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || err == nil && ip.IsLoopback()
}
