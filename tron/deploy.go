package tron

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/contract"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// originEnergyLimit is the most energy a deployer pays per call of its
// contract; with consume_user_resource_percent 100 the caller pays it all,
// so it only has to be positive. TronWeb's default.
const originEnergyLimit = 10_000_000

// DeployMargin is what a deployment's fee limit adds to the energy its
// simulation used, in percent: for the energy price moving before the
// block, and a node whose simulation undercounts a little.
const DeployMargin = 20

// Deploy deploys a contract: abiJSON is its ABI (stored on chain for
// explorers), code its creation code followed by the ABI-encoded
// constructor arguments, name its name on chain. The caller pays all the
// energy (consume_user_resource_percent 100).
//
// It simulates the deployment first (a constant call without a contract
// address, which java-tron 4.7.1 and later run as a deployment): a
// constructor that reverts gives its *RevertError and costs nothing, and
// the transaction's fee limit is the energy the simulation used plus
// DeployMargin percent at the node's energy price — never more than
// Config.FeeLimit: a deployment that needs more gives an *OutOfEnergyError
// before anything is signed, instead of running out of energy on chain
// and burning its whole fee limit. A node that cannot simulate a
// deployment gives an error; nothing is sent. It returns the contract's
// address once the deployment is in a block (solidified, with
// FinalitySolid).
func (c *Client) Deploy(ctx context.Context, abiJSON string, code []byte, name string) (btt.Address, *Receipt, error) {
	if c.signer == nil {
		return btt.Address{}, nil, ErrNoSigner
	}
	if len(code) == 0 {
		return btt.Address{}, nil, errors.New("tron: deploy: empty creation code")
	}
	cabi, err := contract.JSONtoABI(abiJSON)
	if err != nil {
		return btt.Address{}, nil, fmt.Errorf("tron: deploy %s: ABI: %w", name, err)
	}
	from := c.signer.Address()
	energy, err := c.simulateDeploy(ctx, from, code)
	if err != nil {
		return btt.Address{}, nil, fmt.Errorf("tron: deploy %s: %w", name, err)
	}
	feeLimit, err := deployFeeLimit(energy, c.price(ctx, true), c.cfg.FeeLimit)
	if err != nil {
		return btt.Address{}, nil, fmt.Errorf("tron: deploy %s: %w", name, err)
	}
	var ext *api.TransactionExtention
	err = c.rpc(ctx, "build a deployment of "+name, func(ctx context.Context) error {
		var err error
		err = sdkSafe(func() error {
			ext, err = c.sdk.DeployContractCtx(ctx, sdkAddr(from), name, cabi, hex.EncodeToString(code), feeLimit, 100, originEnergyLimit)
			return err
		})
		return refused(err)
	})
	if err != nil {
		return btt.Address{}, nil, err
	}
	if err := checkDeploy(ext, from, code, feeLimit); err != nil {
		return btt.Address{}, nil, err
	}
	if err := c.checkBuilt(ctx, ext.GetTransaction()); err != nil {
		return btt.Address{}, nil, err
	}
	if err := c.checkFees(ctx, from, ext.GetTransaction(), energy); err != nil {
		return btt.Address{}, nil, err
	}
	tx, err := c.sign(ext.GetTransaction())
	if err != nil {
		return btt.Address{}, nil, err
	}
	if err := c.broadcast(ctx, tx); err != nil {
		return btt.Address{}, nil, err
	}
	r, err := c.Confirm(ctx, tx)
	if err != nil {
		return btt.Address{}, r, fmt.Errorf("tron: deploy %s: %w", name, err)
	}
	want := ContractAddress(tx.ID, from)
	if !r.ContractAddress.IsZero() && r.ContractAddress != want {
		return btt.Address{}, r, fmt.Errorf("%w: deployed at %s, expected %s", ErrBadResponse, r.ContractAddress, want)
	}
	return want, r, nil
}

// simulateDeploy runs code as a deployment by from in a constant call and
// returns the energy it used.
func (c *Client) simulateDeploy(ctx context.Context, from btt.Address, code []byte) (int64, error) {
	var ext *api.TransactionExtention
	err := c.rpc(ctx, "simulate the deployment", func(ctx context.Context) error {
		var err error
		ext, err = c.sdk.Client.TriggerConstantContract(c.withAPIKey(ctx), &core.TriggerSmartContract{OwnerAddress: from[:], Data: code})
		return err
	})
	if err != nil {
		return 0, err
	}
	if ext == nil {
		return 0, fmt.Errorf("%w: empty answer to a simulated deployment", ErrBadResponse)
	}
	if _, err := constantResult(ext); err != nil {
		var rej *TxRejectedError
		if errors.As(err, &rej) {
			return 0, fmt.Errorf("the node cannot simulate a deployment (java-tron 4.7.1 or later can), so its energy is unknown; not deploying: %w", err)
		}
		return 0, fmt.Errorf("simulated: %w", err)
	}
	if ext.GetEnergyUsed() <= 0 {
		return 0, fmt.Errorf("%w: the node's simulation of the deployment used no energy (java-tron 4.7.1 or later simulates deployments); not deploying", ErrBadResponse)
	}
	return ext.GetEnergyUsed(), nil
}

// deployFeeLimit is the fee limit of a deployment whose simulation used
// energy at price sun each: DeployMargin percent more, at most max (an
// *OutOfEnergyError when that is not enough). Pure.
func deployFeeLimit(energy, price, max int64) (int64, error) {
	need := (energy + energy*DeployMargin/100) * price
	if energy <= 0 || price <= 0 || need/price < energy {
		return 0, fmt.Errorf("%w: deployment energy %d at %d sun", ErrBadResponse, energy, price)
	}
	if need > max {
		return 0, &OutOfEnergyError{FeeLimit: max, Need: need}
	}
	return need, nil
}

func checkDeploy(ext *api.TransactionExtention, from btt.Address, code []byte, feeLimit int64) error {
	if ext == nil || ext.GetTransaction().GetRawData() == nil {
		return fmt.Errorf("%w: no deployment built", ErrBadResponse)
	}
	if r := ext.GetResult(); r != nil && (r.GetCode() != api.Return_SUCCESS || !r.GetResult()) {
		return &TxRejectedError{Code: r.GetCode().String(), Message: string(r.GetMessage())}
	}
	raw := ext.GetTransaction().GetRawData()
	if len(raw.GetContract()) != 1 || raw.GetContract()[0].GetType() != core.Transaction_Contract_CreateSmartContract {
		return fmt.Errorf("%w: the node built something other than one deployment", ErrBadResponse)
	}
	var ct core.CreateSmartContract
	if err := raw.GetContract()[0].GetParameter().UnmarshalTo(&ct); err != nil {
		return fmt.Errorf("%w: deployment: %v", ErrBadResponse, err)
	}
	if !bytes.Equal(ct.GetOwnerAddress(), from[:]) || !bytes.Equal(ct.GetNewContract().GetBytecode(), code) ||
		ct.GetNewContract().GetCallValue() != 0 || ct.GetCallTokenValue() != 0 || raw.GetFeeLimit() != feeLimit {
		return fmt.Errorf("%w: the node built a deployment other than the one asked for; not signing it", ErrBadResponse)
	}
	return nil
}

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
// period (whole seconds, MinChallengePeriod to MaxChallengePeriod) from c's
// account and returns it as c's Escrow. Its vouchers are TIP-191 digests
// (a wallet signs them as an opaque hash); DeployTypedEscrow deploys one
// that checks typed data.
func DeployEscrow(ctx context.Context, c *Client, token btt.Address, challengePeriod time.Duration, opts ...EscrowOption) (*Escrow, error) {
	return deployEscrow(ctx, c, token, challengePeriod, paychan.SchemeTIP191, opts...)
}

// DeployTypedEscrow deploys a BttSpeedEscrow that checks vouchers as
// typed data (TIP-712: EIP-712 with TRON's chain id and the contract's
// 20-byte address), so a wallet shows the channel and the amount it
// signs rather than a hash that could be anything; paychan signs in the
// scheme the escrow reports (Domain.Scheme).
func DeployTypedEscrow(ctx context.Context, c *Client, token btt.Address, challengePeriod time.Duration, opts ...EscrowOption) (*Escrow, error) {
	return deployEscrow(ctx, c, token, challengePeriod, paychan.SchemeEIP712, opts...)
}

func deployEscrow(ctx context.Context, c *Client, token btt.Address, challengePeriod time.Duration, scheme paychan.DigestScheme, opts ...EscrowOption) (*Escrow, error) {
	if token.IsZero() {
		return nil, fmt.Errorf("tron: deploy escrow: %w: zero token address", btt.ErrBadAddress)
	}
	if challengePeriod < MinChallengePeriod || challengePeriod > MaxChallengePeriod || challengePeriod%time.Second != 0 {
		return nil, fmt.Errorf("tron: deploy escrow: %w: %v; want whole seconds from %v to %v", ErrChallengePeriod, challengePeriod, MinChallengePeriod, MaxChallengePeriod)
	}
	data := contracts.EscrowDeployDataFor(contracts.EscrowParams{Token: token.EVM(), ChallengePeriod: uint64(challengePeriod / time.Second), Scheme: uint8(scheme)})
	addr, _, err := c.Deploy(ctx, contracts.EscrowABIJSON(), data, "BttSpeedEscrow")
	if err != nil {
		return nil, err
	}
	return NewEscrow(c, addr, opts...)
}
