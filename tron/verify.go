package tron

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc/metadata"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// The bounds BttSpeedEscrow's constructor puts on its challenge period
// (MIN_CHALLENGE_PERIOD, MAX_CHALLENGE_PERIOD). A payee should ask for
// more than the minimum: its time to see a startClose and get a redeem
// mined (WithMinChallengePeriod).
const (
	MinChallengePeriod = contracts.EscrowMinChallengePeriod * time.Second
	MaxChallengePeriod = contracts.EscrowMaxChallengePeriod * time.Second
)

var (
	// ErrNotGenuineEscrow: the contract at an escrow's address is not a
	// BttSpeedEscrow deployed from this build's creation code: its runtime
	// code differs from the embedded artifact's, or it was not created by
	// a deployment of the embedded creation code. Its deposits are at the
	// mercy of whoever wrote it; use the escrow the payee names, deployed
	// with this release.
	ErrNotGenuineEscrow = errors.New("tron: not a genuine BttSpeedEscrow")
	// ErrChallengePeriod: the escrow's challenge period is shorter than
	// the client accepts (WithMinChallengePeriod, at least
	// MinChallengePeriod) or longer than MaxChallengePeriod.
	ErrChallengePeriod = errors.New("tron: escrow's challenge period out of bounds")
)

// WithMinChallengePeriod makes the escrow refuse to work (Domain fails
// with ErrChallengePeriod) when its challenge period is shorter than d: a
// payee sets its margin to see a payer's startClose and get its redeem
// mined. Below MinChallengePeriod it has no effect.
func WithMinChallengePeriod(d time.Duration) EscrowOption {
	return func(e *Escrow) { e.minPeriod = d }
}

// escrowFacts is what verifying an escrow proved.
type escrowFacts struct {
	token  btt.Address
	period time.Duration
	// scheme is the digest the escrow checks vouchers against:
	// TIP-191 (the default) or typed data (TIP-712, which on TRON is
	// EIP-712 with TRON's chain id and the 20-byte contract address).
	scheme paychan.DigestScheme
}

// verify proves that the contract at e.addr is a BttSpeedEscrow of the
// embedded artifacts: its runtime code is the embedded runtime code with
// the token and the challenge period filled in, it was created by a
// transaction deploying exactly the embedded creation code with those
// constructor arguments (so its storage started as the constructor left
// it: no planted channel), and its period is within bounds.
func (e *Escrow) verify(ctx context.Context) (escrowFacts, error) {
	info, err := e.c.contractInfo(ctx, e.addr)
	if err != nil {
		return escrowFacts{}, err
	}
	code := info.GetRuntimecode()
	if len(code) == 0 {
		return escrowFacts{}, fmt.Errorf("%w: %s has no code: not a contract on this chain", ErrNotGenuineEscrow, e.addr)
	}
	p, ok := contracts.ParseEscrow(code)
	tok, secs := p.Token, p.ChallengePeriod
	if !ok {
		return escrowFacts{}, fmt.Errorf("%w: the runtime code at %s (%d bytes) is not the embedded BttSpeedEscrow's (%d bytes, solc %s)",
			ErrNotGenuineEscrow, e.addr, len(code), len(contracts.EscrowRuntime([20]byte{}, 0)), contracts.SolcVersion)
	}
	minPeriod := max(e.minPeriod, MinChallengePeriod)
	if secs < uint64(minPeriod/time.Second) || secs > uint64(MaxChallengePeriod/time.Second) {
		return escrowFacts{}, fmt.Errorf("%w: %s has a challenge period of %d s; this client accepts %s to %s (a payee has that long to redeem after a payer's early close)",
			ErrChallengePeriod, e.addr, secs, minPeriod, MaxChallengePeriod)
	}
	facts := escrowFacts{token: btt.AddressFromEVM(tok), period: time.Duration(secs) * time.Second, scheme: paychan.DigestScheme(p.Scheme)}
	if err := e.c.verifyCreation(ctx, e.addr, info.GetSmartContract().GetTrxHash(), contracts.EscrowDeployDataFor(p)); err != nil {
		return escrowFacts{}, err
	}
	return facts, nil
}

// contractInfo reads a contract's record and runtime code.
func (c *Client) contractInfo(ctx context.Context, addr btt.Address) (*core.SmartContractDataWrapper, error) {
	var info *core.SmartContractDataWrapper
	err := c.rpc(ctx, "read contract "+addr.String(), func(ctx context.Context) error {
		var err error
		info, err = c.sdk.Client.GetContractInfo(c.withAPIKey(ctx), &api.BytesMessage{Value: addr[:]})
		return err
	})
	if err != nil {
		return nil, err
	}
	return info, nil
}

// verifyCreation checks that the contract at addr was created by the
// transaction txHash, a deployment of exactly code.
func (c *Client) verifyCreation(ctx context.Context, addr btt.Address, txHash, code []byte) error {
	if len(txHash) != 32 {
		return fmt.Errorf("%w: the node does not say which transaction created %s (created by another contract?): its first state cannot be checked", ErrNotGenuineEscrow, addr)
	}
	var tx *core.Transaction
	err := c.rpc(ctx, "read the transaction that created "+addr.String(), func(ctx context.Context) error {
		var err error
		tx, err = c.sdk.Client.GetTransactionById(c.withAPIKey(ctx), &api.BytesMessage{Value: txHash})
		return err
	})
	if err != nil {
		return err
	}
	id, err := TxIDOf(tx)
	if err != nil || !bytes.Equal(id[:], txHash) {
		return fmt.Errorf("%w: the node did not give the transaction %x that created %s", ErrBadResponse, txHash, addr)
	}
	cs := tx.GetRawData().GetContract()
	var create core.CreateSmartContract
	if len(cs) != 1 || cs[0].GetType() != core.Transaction_Contract_CreateSmartContract || cs[0].GetParameter().UnmarshalTo(&create) != nil {
		return fmt.Errorf("%w: transaction %x did not deploy %s", ErrNotGenuineEscrow, txHash, addr)
	}
	owner, err := btt.AddressFromBytes(create.GetOwnerAddress())
	if err != nil || ContractAddress(id, owner) != addr {
		return fmt.Errorf("%w: transaction %x did not deploy %s", ErrNotGenuineEscrow, txHash, addr)
	}
	if !bytes.Equal(create.GetNewContract().GetBytecode(), code) {
		return fmt.Errorf("%w: %s was deployed from other creation code than the embedded BttSpeedEscrow's with its token and period (transaction %x): its storage may not start empty",
			ErrNotGenuineEscrow, addr, txHash)
	}
	return nil
}

// withAPIKey adds the TronGrid API key to a call made on the raw gRPC
// client, as gotron-sdk's own methods do.
func (c *Client) withAPIKey(ctx context.Context) context.Context {
	if c.cfg.APIKey == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "TRON-PRO-API-KEY", c.cfg.APIKey)
}
