package tron

import (
	"context"
	"fmt"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// DeployTestToken deploys tron/contracts' TestToken ("Test BTT", tBTT, 18
// decimals) from c's account, which becomes its owner, the only minter.
// For test chains (the devnet, Nile): it has no supply cap.
func DeployTestToken(ctx context.Context, c *Client) (btt.Address, error) {
	addr, _, err := c.Deploy(ctx, contracts.TokenABIJSON(), contracts.TokenDeployData(), "TestToken")
	if err != nil {
		return btt.Address{}, err
	}
	return addr, nil
}

// MintTestToken mints amount of a TestToken to `to`; c must be its owner.
func MintTestToken(ctx context.Context, c *Client, token, to btt.Address, amount btt.Amount) (*Receipt, error) {
	data, err := contracts.TokenABI().Pack("mint", evmAddr(to), amount.Big())
	if err != nil {
		return nil, fmt.Errorf("tron: encode mint: %w", err)
	}
	r, err := c.Transact(ctx, token, data)
	if err != nil {
		return r, fmt.Errorf("tron: mint %s of %s to %s: %w", amount, token, to, err)
	}
	return r, nil
}

// DeployEscrow deploys a BttSpeedEscrow for token with the given challenge
// period (whole seconds, MinChallengePeriod to MaxChallengePeriod) from c's account and returns it as c's Escrow.
func DeployEscrow(ctx context.Context, c *Client, token btt.Address, challengePeriod time.Duration, opts ...EscrowOption) (*Escrow, error) {
	if token.IsZero() {
		return nil, fmt.Errorf("tron: deploy escrow: %w: zero token address", btt.ErrBadAddress)
	}
	if challengePeriod < MinChallengePeriod || challengePeriod > MaxChallengePeriod || challengePeriod%time.Second != 0 {
		return nil, fmt.Errorf("tron: deploy escrow: %w: %v; want whole seconds from %v to %v", ErrChallengePeriod, challengePeriod, MinChallengePeriod, MaxChallengePeriod)
	}
	addr, _, err := c.Deploy(ctx, contracts.EscrowABIJSON(), contracts.EscrowDeployData(token.EVM(), uint64(challengePeriod/time.Second)), "BttSpeedEscrow")
	if err != nil {
		return nil, err
	}
	return NewEscrow(c, addr, opts...)
}
