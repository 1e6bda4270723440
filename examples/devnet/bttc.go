package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc"
	"github.com/bttspeed/bttspeed/bttc/bttcdev"
)

// DefaultBTTCListen is where -chain bttc serves JSON-RPC unless -listen
// says otherwise: the port wallets and tools expect of a local node.
const DefaultBTTCListen = "127.0.0.1:8545"

// bttcFunds are each account's funds on the BTTC devnet: native BTT for
// gas, and TestToken (the deposits' token).
var (
	bttcGas   = new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))
	bttcToken = btt.BTT(1_000_000)
)

// bttcKeys returns n keys: derived from seed (keccak256("bttspeed devnet
// " + seed + " " + i)) or random.
func bttcKeys(n int, seed string) ([]*ecdsa.PrivateKey, error) {
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		var err error
		if seed == "" {
			keys[i], err = crypto.GenerateKey()
		} else {
			keys[i], err = crypto.ToECDSA(crypto.Keccak256([]byte("bttspeed devnet " + seed + " " + strconv.Itoa(i))))
		}
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
	}
	return keys, nil
}

// runBTTC runs a BTTC-like development chain (bttc/bttcdev) serving
// JSON-RPC on listen, with accounts funded in native BTT and TestToken,
// TestToken and an EIP-712 BttSpeedEscrow deployed, until ctx ends.
func runBTTC(ctx context.Context, out io.Writer, listen string, accounts int, seed string, interval, challenge time.Duration) error {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("-listen %q: port: %w", listen, err)
	}
	if accounts < 1 {
		return fmt.Errorf("-accounts %d: at least 1", accounts)
	}
	keys, err := bttcKeys(accounts+1, seed) // keys[0] deploys and mints
	if err != nil {
		return err
	}
	alloc := map[common.Address]*big.Int{}
	for _, k := range keys {
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = bttcGas
	}
	chain, err := bttcdev.Start(bttcdev.Config{Host: host, Port: port, Alloc: alloc, Period: interval})
	if err != nil {
		return err
	}
	defer chain.Close()

	owner, err := bttc.Dial(ctx, bttc.Config{URL: chain.URL(), Key: keys[0], Confirmations: 1, PollInterval: 50 * time.Millisecond})
	if err != nil {
		return err
	}
	defer owner.Close()
	token, _, err := bttc.DeployTestToken(ctx, owner)
	if err != nil {
		return err
	}
	escrow, deployed, err := bttc.DeployEscrow(ctx, owner, token, challenge)
	if err != nil {
		return err
	}
	for _, k := range keys[1:] {
		if _, err := bttc.Mint(ctx, owner, token, btt.AddressFromEVM(crypto.PubkeyToAddress(k.PublicKey)), bttcToken); err != nil {
			return err
		}
	}
	now, err := owner.Now(ctx)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "rpc: %s\n", chain.URL())
	fmt.Fprintf(out, "chain id: %d (%#x)\n", chain.ChainID(), chain.ChainID())
	fmt.Fprintf(out, "token: %s (TestToken, 18 decimals)\n", common.Address(token.EVM()).Hex())
	fmt.Fprintf(out, "escrow: %s (BttSpeedEscrow, EIP-712 vouchers, challenge period %v, deployed by transaction %s: bttc.WithCreationTx)\n",
		common.Address(escrow.EVM()).Hex(), challenge, deployed.TxHash.Hex())
	mode := "a block for each transaction, at once"
	if interval > 0 {
		mode = fmt.Sprintf("a block every %v", interval)
	}
	fmt.Fprintf(out, "blocks: %s; clock at %s\n", mode, now.UTC().Format(time.RFC3339))
	fmt.Fprintln(out, "WARNING: the private keys below are throwaway devnet keys, printed in the clear; never use them on a real chain.")
	for i, k := range keys[1:] {
		a := btt.AddressFromEVM(crypto.PubkeyToAddress(k.PublicKey))
		gas, err := owner.BTTBalance(ctx, a)
		if err != nil {
			return err
		}
		tok, err := owner.BalanceOf(ctx, token, a)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "account %d: %s key %s BTT %s token %s\n", i, common.Address(a.EVM()).Hex(), hex.EncodeToString(crypto.FromECDSA(k)),
			new(big.Int).Quo(gas, big.NewInt(1e18)), tok.FormatBTT())
	}
	fmt.Fprintln(out, "ready (SIGINT or SIGTERM stops)")

	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return chain.Close()
}
