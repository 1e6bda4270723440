package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

// deployBTTC deploys the escrow (and with -test-token TestToken) to the
// BTTC node at the URL c.node, and checks it the way a seeder will: proven
// by its creating transaction.
func deployBTTC(ctx context.Context, c config, given map[string]bool, getenv func(string) string, stdout io.Writer) error {
	if u, err := url.Parse(c.node); err != nil || u.Host == "" {
		return cli.Setupf("-chain %q: want the node's JSON-RPC URL, such as https://pre-rpc.bt.io", c.node)
	}
	for _, f := range []string{"fee-limit", "chain-insecure"} {
		if given[f] {
			return cli.Setupf("-%s is for a TRON -chain", f)
		}
	}
	if c.challenge < bttc.MinChallengePeriod || c.challenge > bttc.MaxChallengePeriod || c.challenge%time.Second != 0 {
		return cli.Setupf("-challenge %v: want whole seconds from %v to %v", c.challenge, bttc.MinChallengePeriod, bttc.MaxChallengePeriod)
	}
	var token btt.Address
	switch {
	case c.testToken:
	case !given["token"]:
		return cli.Setupf("-token is required on BTTC: the ERC-20 deposits are held in (or -test-token on a test network)")
	default:
		var err error
		if common.IsHexAddress(c.token) {
			token = btt.AddressFromEVM(common.HexToAddress(c.token))
		} else if token, err = btt.ParseAddress(c.token); err != nil {
			return cli.Setupf("-token: %v", err)
		}
	}
	mint, err := cli.ParseBTT("-mint", c.mint)
	if err != nil {
		return err
	}
	key, err := chain.LoadEVMKey(c.keystore, func(k string) (string, bool) { v := getenv(k); return v, v != "" })
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conf := chain.Flags{Node: c.node}.BTTCConfirmations()
	client, err := bttc.Dial(ctx, bttc.Config{URL: c.node, Key: key, Confirmations: conf})
	if err != nil {
		return cli.Setup(err)
	}
	defer client.Close()
	id, err := client.ChainID(ctx)
	if err != nil {
		return cli.Setupf("cannot reach the BTTC node at %s: %w", c.node, err)
	}
	fmt.Fprintf(stdout, "chain: %s (chain id %d)\naccount: %s\n", c.node, id, common.Address(client.Address().EVM()).Hex())
	if c.testToken {
		if token, _, err = bttc.DeployTestToken(ctx, client); err != nil {
			return fmt.Errorf("deploying the test token: %w", err)
		}
		if !mint.IsZero() {
			if _, err := bttc.Mint(ctx, client, token, client.Address(), mint); err != nil {
				return fmt.Errorf("minting test tokens: %w", err)
			}
		}
	}
	fmt.Fprintf(stdout, "token: %s\n", common.Address(token.EVM()).Hex())
	addr, r, err := bttc.DeployEscrow(ctx, client, token, c.challenge)
	if err != nil {
		return fmt.Errorf("deploying the escrow: %w", err)
	}
	esc, err := bttc.NewEscrow(client, addr, bttc.WithCreationTx(r.TxHash))
	if err != nil {
		return err
	}
	if _, err := esc.Domain(ctx); err != nil {
		return fmt.Errorf("the deployed escrow does not check out: %w", err)
	}
	fmt.Fprintf(stdout, "escrow: %s\nescrow-tx: %s\n", common.Address(addr.EVM()).Hex(), r.TxHash.Hex())
	return nil
}
