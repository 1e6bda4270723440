// Command devnet runs bttspeed's in-process TRON node (tron/devnet) on its
// own: a TRON Wallet gRPC API on 127.0.0.1 with funded accounts, the test
// token and the escrow deployed, until SIGINT or SIGTERM. With -chain bttc
// it runs a BTTC-like EVM development chain instead (go-ethereum's node,
// bttc/bttcdev): JSON-RPC over HTTP on 127.0.0.1:8545, accounts funded in
// native BTT (gas) and the test token, an escrow checking EIP-712
// vouchers.
//
//	go run ./examples/devnet                      # 127.0.0.1:50051, 4 random accounts
//	go run ./examples/devnet -seed demo -accounts 8
//	go run ./examples/devnet -block-interval 3s   # mainnet-like blocks, clock = wall clock
//	go run ./examples/devnet -chain bttc          # http://127.0.0.1:8545
//
// It prints the gRPC address (rpc: the JSON-RPC URL on BTTC), the chain
// id, the token and escrow addresses and every funded account with its
// private key in hex. Those keys are throwaway devnet keys: never use them
// on a real chain.
//
// By default blocks are mined as soon as a transaction arrives (receipts
// at once) and the chain clock moves only 3 s per block; with
// -block-interval a block comes every interval and the clock follows the
// wall clock.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/tron/devnet"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devnet:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	chainName := fs.String("chain", "tron", "tron (a TRON node, gRPC) or bttc (an EVM chain like BitTorrent Chain, JSON-RPC)")
	listen := fs.String("listen", "127.0.0.1:50051", "gRPC address, or with -chain bttc the JSON-RPC address (default "+DefaultBTTCListen+"); a loopback IP, port 0 picks a free one")
	accounts := fs.Int("accounts", devnet.DefaultAccounts, "number of funded accounts")
	seed := fs.String("seed", "", "derive the accounts' keys from this seed (empty: random keys)")
	interval := fs.Duration("block-interval", 0, "mine a block every interval of real time (0: at once for each transaction)")
	challenge := fs.Duration("challenge-period", devnet.DefaultChallengePeriod, "the escrow's challenge period (whole seconds)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch *chainName {
	case "tron":
	case "bttc":
		addr := *listen
		listenSet := false
		fs.Visit(func(f *flag.Flag) { listenSet = listenSet || f.Name == "listen" })
		if !listenSet {
			addr = DefaultBTTCListen
		}
		return runBTTC(ctx, out, addr, *accounts, *seed, *interval, *challenge)
	default:
		return fmt.Errorf("-chain %q: tron or bttc", *chainName)
	}
	node, err := devnet.Start(ctx, devnet.Config{
		Listen:          *listen,
		Accounts:        *accounts,
		Seed:            *seed,
		BlockInterval:   *interval,
		DeployContracts: true,
		ChallengePeriod: *challenge,
	})
	if err != nil {
		return err
	}
	defer node.Close()

	fmt.Fprintf(out, "grpc: %s\n", node.Addr())
	fmt.Fprintf(out, "chain id: %d (%#x)\n", node.ChainID(), node.ChainID())
	fmt.Fprintf(out, "token: %s (TestToken, 18 decimals)\n", node.Token())
	fmt.Fprintf(out, "escrow: %s (BttSpeedEscrow, challenge period %v)\n", node.Escrow(), node.ChallengePeriod())
	mode := "a block for each transaction, at once"
	if *interval > 0 {
		mode = fmt.Sprintf("a block every %v", *interval)
	}
	fmt.Fprintf(out, "blocks: %s; clock at %s\n", mode, node.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(out, "WARNING: the private keys below are throwaway devnet keys, printed in the clear; never use them on a real chain.")
	for i, k := range node.Keys() {
		a := node.Accounts()[i]
		fmt.Fprintf(out, "account %d: %s key %s TRX %d token %s\n", i, a, hex.EncodeToString(crypto.FromECDSA(k)),
			node.TRXBalance(a)/devnet.SunPerTRX, node.TokenBalance(a).FormatBTT())
	}
	fmt.Fprintln(out, "ready (SIGINT or SIGTERM stops)")

	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return node.Close()
}
