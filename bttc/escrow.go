package bttc

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// ApprovePolicy says how Open and TopUp give the escrow the token
// allowance a deposit needs.
type ApprovePolicy int

const (
	// ApproveExact approves the deposit when the allowance is short.
	ApproveExact = ApprovePolicy(evmescrow.ApproveExact)
	// ApproveUnlimited approves 2^256-1 once, when the allowance is short.
	ApproveUnlimited = ApprovePolicy(evmescrow.ApproveUnlimited)
	// ApproveNever leaves allowances to the caller; a short one gives a
	// *paychan.InsufficientFundsError.
	ApproveNever = ApprovePolicy(evmescrow.ApproveNever)
)

// The bounds of BttSpeedEscrow's challenge period.
const (
	MinChallengePeriod = contracts.EscrowMinChallengePeriod * time.Second
	MaxChallengePeriod = contracts.EscrowMaxChallengePeriod * time.Second
)

// EscrowOption configures an Escrow.
type EscrowOption func(*Escrow)

// WithApprove sets the approve policy (default ApproveExact).
func WithApprove(p ApprovePolicy) EscrowOption { return func(e *Escrow) { e.approve = p } }

// WithCreationTx makes Domain also prove that the escrow was created by
// the transaction hash (the deployment's, bttc.DeployEscrow's receipt
// names it): a deployment, with no other contract between, of exactly the
// embedded creation code and the constructor arguments the code holds —
// so its storage started empty, with no channel planted. Without it the
// runtime code alone is checked (an EVM node cannot name a contract's
// creator).
func WithCreationTx(hash common.Hash) EscrowOption {
	return func(e *Escrow) { e.creation = &hash }
}

// WithMinChallengePeriod makes Domain fail with ErrChallengePeriod when
// the escrow's challenge period is shorter than d.
func WithMinChallengePeriod(d time.Duration) EscrowOption {
	return func(e *Escrow) { e.minPeriod = d }
}

// Escrow is a deployed BttSpeedEscrow on BTTC (or any EVM chain) as seen
// by the client's account: it implements paychan.Escrow, with the same
// behaviour as tron.Escrow. Every state-changing method simulates its
// call (eth_call, then eth_estimateGas: a call that would revert costs
// nothing and returns the contract's reason), signs it with EIP-1559 fees
// under the cap, sends it and waits for its receipt and confirmations.
//
// A transaction whose outcome is unknown (the node went away after it
// was signed, or no receipt came in time) is kept — in a journal too,
// once KeepTxsIn gave one, written after signing and before sending —
// and the next call settles it first: it is sent again (the same bytes)
// and waited for, until it is mined or its nonce is taken by another
// (ErrTxReplaced: it never will be). Nothing else is signed meanwhile, so
// no call is paid twice; a call with the same arguments gets that
// transaction's result. Calls of one Escrow are serialized; one account
// should be used by one Escrow at a time.
type Escrow struct {
	c         *Client
	addr      btt.Address
	abi       abi.ABI
	approve   ApprovePolicy
	minPeriod time.Duration
	creation  *common.Hash
	sem       chan struct{}

	mu         sync.Mutex
	domain     paychan.Domain
	period     time.Duration
	haveDomain bool
	pending    *pendingTx
	journal    paychan.TxJournal
	done       evmescrow.Outcomes[*Receipt]
}

type pendingTx struct {
	to   *btt.Address
	data []byte
	tx   *Tx
}

var (
	_ paychan.Escrow     = (*Escrow)(nil)
	_ paychan.OpenFinder = (*Escrow)(nil)
	_ paychan.TxKeeper   = (*Escrow)(nil)
)

// NewEscrow returns the escrow at addr as seen by c's account.
func NewEscrow(c *Client, addr btt.Address, opts ...EscrowOption) (*Escrow, error) {
	if c == nil {
		return nil, fmt.Errorf("bttc: NewEscrow: %w: nil client", ErrInvalidArgument)
	}
	if addr.IsZero() {
		return nil, fmt.Errorf("bttc: NewEscrow: %w: zero escrow address", btt.ErrBadAddress)
	}
	e := &Escrow{c: c, addr: addr, abi: contracts.EscrowABI(), sem: make(chan struct{}, 1)}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// Address is the escrow contract's address.
func (e *Escrow) Address() btt.Address { return e.addr }

// Client is the client the escrow sends through.
func (e *Escrow) Client() *Client { return e.c }

// String describes the escrow and the account.
func (e *Escrow) String() string {
	return "bttc.Escrow(" + common.Address(e.addr.EVM()).Hex() + " as " + e.c.addr.Hex() + ")"
}

// Domain implements paychan.Escrow. On first use it proves the escrow
// genuine: its runtime code is the embedded BttSpeedEscrow's
// (contracts.ParseEscrow), its challenge period within bounds, its token()
// the one its code holds, and its voucherDigest equal to paychan's for the
// domain, in the scheme its code holds (EIP-712 for an escrow deployed
// for EVM chains). Nothing is sent to an escrow that fails.
func (e *Escrow) Domain(ctx context.Context) (paychan.Domain, error) {
	e.mu.Lock()
	d, ok := e.domain, e.haveDomain
	e.mu.Unlock()
	if ok {
		return d, nil
	}
	chainID, err := e.c.ChainID(ctx)
	if err != nil {
		return paychan.Domain{}, fmt.Errorf("bttc: escrow domain: %w", err)
	}
	var code []byte
	err = e.c.rpc(ctx, "read the escrow's code", func(ctx context.Context) error {
		var err error
		code, err = e.c.b.CodeAt(ctx, e.addr.EVM(), nil)
		return err
	})
	if err != nil {
		return paychan.Domain{}, fmt.Errorf("bttc: escrow domain: %w", err)
	}
	if len(code) == 0 {
		return paychan.Domain{}, fmt.Errorf("%w: %s has no code: not a contract on chain %d", ErrNotGenuineEscrow, e, chainID)
	}
	p, ok := contracts.ParseEscrow(code)
	if !ok {
		return paychan.Domain{}, fmt.Errorf("%w: the code at %s (%d bytes) is not the embedded BttSpeedEscrow's (solc %s)",
			ErrNotGenuineEscrow, common.Address(e.addr.EVM()).Hex(), len(code), contracts.SolcVersion)
	}
	minPeriod := max(e.minPeriod, MinChallengePeriod)
	if p.ChallengePeriod < uint64(minPeriod/time.Second) || p.ChallengePeriod > uint64(MaxChallengePeriod/time.Second) {
		return paychan.Domain{}, fmt.Errorf("%w: the escrow's challenge period is %d s; this client accepts %s to %s",
			ErrChallengePeriod, p.ChallengePeriod, minPeriod, MaxChallengePeriod)
	}
	if e.creation != nil {
		if err := e.verifyCreation(ctx, *e.creation, p); err != nil {
			return paychan.Domain{}, fmt.Errorf("bttc: escrow domain: %w", err)
		}
	}
	out, err := e.c.callABI(ctx, e.addr, e.abi, "token")
	if err != nil {
		return paychan.Domain{}, fmt.Errorf("bttc: escrow domain: %w", err)
	}
	if tok, ok := out[0].(common.Address); !ok || tok != p.Token {
		return paychan.Domain{}, fmt.Errorf("%w: token() returned %v, the escrow's code holds %x", ErrBadResponse, out[0], p.Token)
	}
	d = paychan.Domain{ChainID: chainID, Escrow: e.addr, Token: btt.AddressFromEVM(p.Token), Scheme: paychan.DigestScheme(p.Scheme)}
	probe := d.Voucher(paychan.ChannelID{1}, btt.NewAmount(1))
	got, err := e.VoucherDigest(ctx, probe.Channel, probe.Amount)
	if err != nil {
		return paychan.Domain{}, fmt.Errorf("bttc: escrow domain: %w", err)
	}
	if got != probe.Digest() {
		return paychan.Domain{}, fmt.Errorf("%w: the escrow's voucher digest differs from paychan's for chain %d, scheme %s", ErrBadResponse, chainID, d.Scheme)
	}
	e.mu.Lock()
	e.domain, e.period, e.haveDomain = d, time.Duration(p.ChallengePeriod)*time.Second, true
	e.mu.Unlock()
	return d, nil
}

// verifyCreation checks that transaction hash deployed the escrow from
// the embedded creation code with the constructor arguments p.
func (e *Escrow) verifyCreation(ctx context.Context, hash common.Hash, p contracts.EscrowParams) error {
	var tx *types.Transaction
	err := e.c.rpc(ctx, "read the escrow's creating transaction", func(ctx context.Context) error {
		var err error
		tx, _, err = e.c.b.TransactionByHash(ctx, hash)
		return err
	})
	if err != nil {
		return err
	}
	r, err := e.c.receipt(ctx, hash)
	if err != nil {
		return err
	}
	switch {
	case r == nil || r.Failed || tx.To() != nil || r.ContractAddress != common.Address(e.addr.EVM()):
		return fmt.Errorf("%w: transaction %s did not create %s", ErrNotGenuineEscrow, hash.Hex(), e)
	case !bytes.Equal(tx.Data(), contracts.EscrowDeployDataFor(p)):
		return fmt.Errorf("%w: %s was deployed from other creation code than the embedded BttSpeedEscrow's with its token, period and scheme (transaction %s): its storage may not start empty",
			ErrNotGenuineEscrow, e, hash.Hex())
	}
	return nil
}

// Now implements paychan.Escrow: the latest block's time.
func (e *Escrow) Now(ctx context.Context) (time.Time, error) { return e.c.Now(ctx) }

// ChallengePeriod is the payee's redeem window after a payer's StartClose.
func (e *Escrow) ChallengePeriod(ctx context.Context) (time.Duration, error) {
	if _, err := e.Domain(ctx); err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.period, nil
}

// VoucherDigest is the digest the contract recovers voucher signatures
// from.
func (e *Escrow) VoucherDigest(ctx context.Context, id paychan.ChannelID, amount btt.Amount) ([32]byte, error) {
	out, err := e.c.callABI(ctx, e.addr, e.abi, "voucherDigest", [32]byte(id), amount.Big())
	if err != nil {
		return [32]byte{}, err
	}
	return escrowCodec.Bytes32("voucherDigest", out)
}

// CheckVoucher asks the contract to check a voucher as a redeem now would
// and returns the signer it recovers; a voucher a redeem would refuse
// gives its mapped error.
func (e *Escrow) CheckVoucher(ctx context.Context, sv paychan.SignedVoucher) (btt.Address, error) {
	out, err := e.c.callABI(ctx, e.addr, e.abi, "checkVoucher", [32]byte(sv.Channel), sv.Amount.Big(), sv.Sig[:])
	if err != nil {
		return btt.Address{}, err
	}
	return escrowCodec.Address("checkVoucher", out)
}

// Open implements paychan.Escrow: it checks the token balance, approves
// the escrow if the allowance is short (see ApprovePolicy), opens the
// channel and reads it from the ChannelOpened event.
func (e *Escrow) Open(ctx context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time) (paychan.Channel, error) {
	return e.calls().Open(ctx, payee, deposit, expiry)
}

// escrowCodec encodes the escrow's calls and decodes its answers, the
// same as tron's (evmescrow).
var escrowCodec = evmescrow.NewCodec(ErrBadResponse)

// opened reads the new channel from the receipt's ChannelOpened event.
func (e *Escrow) opened(r *Receipt) (paychan.Channel, error) {
	logs := make([]evmescrow.Log, 0, len(r.Logs))
	for _, l := range r.Logs {
		if l == nil {
			continue
		}
		topics := make([][32]byte, len(l.Topics))
		for i, t := range l.Topics {
			topics[i] = t
		}
		logs = append(logs, evmescrow.Log{Address: btt.AddressFromEVM(l.Address), Topics: topics, Data: l.Data})
	}
	return escrowCodec.Opened(e.addr, logs)
}

// TopUp implements paychan.Escrow.
func (e *Escrow) TopUp(ctx context.Context, id paychan.ChannelID, amount btt.Amount, expiry time.Time) (paychan.Channel, error) {
	return e.calls().TopUp(ctx, id, amount, expiry)
}

// Channel implements paychan.Escrow; an unknown id gives
// paychan.ErrUnknownChannel.
func (e *Escrow) Channel(ctx context.Context, id paychan.ChannelID) (paychan.Channel, error) {
	return e.calls().Channel(ctx, id)
}

// Claim implements paychan.Escrow.
func (e *Escrow) Claim(ctx context.Context, sv paychan.SignedVoucher) (paychan.Channel, error) {
	return e.redeem(ctx, "claim", sv)
}

// Close implements paychan.Escrow: it pays the payee, and refunds the
// payer the rest or, if the token refuses to credit the payer, holds it
// for the payer's Withdraw.
func (e *Escrow) Close(ctx context.Context, sv paychan.SignedVoucher) (paychan.Channel, error) {
	return e.redeem(ctx, "close", sv)
}

func (e *Escrow) redeem(ctx context.Context, method string, sv paychan.SignedVoucher) (paychan.Channel, error) {
	return e.calls().Redeem(ctx, method, sv)
}

// StartClose implements paychan.Escrow.
func (e *Escrow) StartClose(ctx context.Context, id paychan.ChannelID) (paychan.Channel, error) {
	return e.calls().OfChannel(ctx, "start close", "startClose", id)
}

// Reclaim implements paychan.Escrow.
func (e *Escrow) Reclaim(ctx context.Context, id paychan.ChannelID) (paychan.Channel, error) {
	return e.calls().OfChannel(ctx, "reclaim", "reclaim", id)
}

// Withdraw pays the caller the refunds close held for it.
func (e *Escrow) Withdraw(ctx context.Context) (*Receipt, error) {
	data, err := e.abi.Pack("withdraw")
	if err != nil {
		return nil, fmt.Errorf("bttc: withdraw: encode: %w", err)
	}
	r, err := e.transact(ctx, &e.addr, data)
	if err != nil {
		return nil, fmt.Errorf("bttc: withdraw: %w", err)
	}
	return r, nil
}
