package bttc

import (
	"context"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// DeployEscrow deploys a BttSpeedEscrow for token that checks EIP-712
// vouchers, with the given challenge period, and returns its address.
func DeployEscrow(ctx context.Context, c *Client, token btt.Address, challengePeriod time.Duration) (btt.Address, *Receipt, error) {
	if challengePeriod < MinChallengePeriod || challengePeriod > MaxChallengePeriod || challengePeriod%time.Second != 0 {
		return btt.Address{}, nil, fmt.Errorf("bttc: deploy escrow: %w: challenge period %s, whole seconds from %s to %s",
			ErrChallengePeriod, challengePeriod, MinChallengePeriod, MaxChallengePeriod)
	}
	data := contracts.EscrowDeployDataFor(contracts.EscrowParams{
		Token: token.EVM(), ChallengePeriod: uint64(challengePeriod / time.Second), Scheme: contracts.SchemeEIP712,
	})
	return deploy(ctx, c, "BttSpeedEscrow", data)
}

// DeployTestToken deploys TestToken ("Test BTT", 18 decimals), minted
// only by c's account.
func DeployTestToken(ctx context.Context, c *Client) (btt.Address, *Receipt, error) {
	return deploy(ctx, c, "TestToken", contracts.TokenDeployData())
}

// Mint mints amount of a TestToken to to; only its deployer may.
func Mint(ctx context.Context, c *Client, token, to btt.Address, amount btt.Amount) (*Receipt, error) {
	data, err := contracts.TokenABI().Pack("mint", common.Address(to.EVM()), amount.Big())
	if err != nil {
		return nil, fmt.Errorf("bttc: mint: encode: %w", err)
	}
	r, err := c.Transact(ctx, &token, data)
	if err != nil {
		return nil, fmt.Errorf("bttc: mint %s to %s: %w", amount, to, err)
	}
	return r, nil
}

func deploy(ctx context.Context, c *Client, name string, data []byte) (btt.Address, *Receipt, error) {
	r, err := c.Transact(ctx, nil, data)
	if err != nil {
		return btt.Address{}, nil, fmt.Errorf("bttc: deploy %s: %w", name, err)
	}
	if r.ContractAddress == (common.Address{}) {
		return btt.Address{}, nil, fmt.Errorf("%w: deploying %s created no contract (transaction %s)", ErrBadResponse, name, r.TxHash.Hex())
	}
	return btt.AddressFromEVM(r.ContractAddress), r, nil
}
