package tron

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

// ApprovePolicy says how Escrow.Open and TopUp give the escrow the token
// allowance a deposit needs.
type ApprovePolicy int

const (
	// ApproveExact approves the escrow for the deposit when the allowance
	// is short (one extra transaction then).
	ApproveExact = ApprovePolicy(evmescrow.ApproveExact)
	// ApproveUnlimited approves 2^256-1 once, when the allowance is short:
	// later deposits need no approval.
	ApproveUnlimited = ApprovePolicy(evmescrow.ApproveUnlimited)
	// ApproveNever leaves allowances to the caller; a short one gives a
	// *paychan.InsufficientFundsError.
	ApproveNever = ApprovePolicy(evmescrow.ApproveNever)
)

// EscrowOption configures an Escrow.
type EscrowOption func(*Escrow)

// WithApprove sets the approve policy (default ApproveExact).
func WithApprove(p ApprovePolicy) EscrowOption { return func(e *Escrow) { e.approve = p } }

// Escrow is a deployed BttSpeedEscrow as seen by the client's account: it
// implements paychan.Escrow on TRON. Every state-changing method simulates
// its call first (a call that would revert costs nothing and returns the
// contract's reason), sends it, and waits for the receipt. Errors wrap
// paychan's (ErrUnknownChannel, ErrChannelClosed, ErrExpired,
// ErrOverDeposit, ErrBadSignature, ErrNotIncreasing, ErrWrongPayee,
// ErrChainUnavailable, *InsufficientFundsError) and this package's.
//
// A transaction whose outcome is unknown (the node went away after it was
// signed, or no receipt came in time) is remembered — on disk too, once
// KeepTxsIn gave a journal (paychan.NewPayer gives its store), where it
// is written after signing and before sending: the next call first looks
// it up or rebroadcasts it (the same signed bytes). A call with the same
// arguments returns that transaction's result instead of signing a second
// one, even after another call settled it; an Open with the arguments of
// one in flight pays no second approve. So retry a failed Open with the
// same arguments — paychan.Payer does, from its intents — not a new
// time.Now()-based expiry; a different call runs once the old transaction
// is in a block or has expired. Pending reports it. Calls of one Escrow
// are serialized.
type Escrow struct {
	c       *Client
	addr    btt.Address
	abi     abi.ABI
	approve ApprovePolicy
	sem     chan struct{}
	// minPeriod is the shortest challenge period accepted
	// (WithMinChallengePeriod).
	minPeriod time.Duration

	mu         sync.Mutex
	domain     paychan.Domain
	period     time.Duration
	haveDomain bool
	// pending is the transaction signed and not known settled: kept in
	// journal (KeepTxsIn) before it is sent, settled before anything
	// else is signed.
	pending *pendingTx
	journal paychan.TxJournal
	// done holds the outcomes of calls whose transaction was settled
	// while another call waited (the last evmescrow.MaxOutcomes): the same call asked
	// again gets its outcome instead of a second transaction.
	done evmescrow.Outcomes[*Receipt]
	// opens are the opens signed, when there is no journal to hold them
	// (opens.go).
	opens []openRecord
}

type pendingTx struct {
	to   btt.Address
	data []byte
	tx   *Tx
}

var _ paychan.Escrow = (*Escrow)(nil)

// NewEscrow returns the escrow at addr as seen by c's signer.
func NewEscrow(c *Client, addr btt.Address, opts ...EscrowOption) (*Escrow, error) {
	if c == nil {
		return nil, errors.New("tron: NewEscrow: nil client")
	}
	if addr.IsZero() {
		return nil, fmt.Errorf("tron: NewEscrow: %w: zero escrow address", btt.ErrBadAddress)
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
	return "tron.Escrow(" + e.addr.String() + " as " + e.c.Address().String() + ")"
}

// Domain implements paychan.Escrow: the chain id, the escrow and its token.
// On first use it proves the escrow genuine (see ErrNotGenuineEscrow): its
// runtime code is the embedded BttSpeedEscrow's, it was created by a
// deployment of the embedded creation code, and its challenge period is
// within bounds (ErrChallengePeriod, WithMinChallengePeriod); and it
// checks that the contract's voucherDigest equals paychan.Voucher.Digest
// for that domain, so vouchers signed in Go redeem. Nothing is sent to an
// escrow that fails.
func (e *Escrow) Domain(ctx context.Context) (paychan.Domain, error) {
	e.mu.Lock()
	d, ok := e.domain, e.haveDomain
	e.mu.Unlock()
	if ok {
		return d, nil
	}
	chainID, err := e.c.ChainID(ctx)
	if err != nil {
		return paychan.Domain{}, fmt.Errorf("tron: escrow domain: %w", err)
	}
	facts, err := e.verify(ctx)
	if err != nil {
		return paychan.Domain{}, fmt.Errorf("tron: escrow domain: %w", err)
	}
	out, err := e.c.callABI(ctx, e.addr, e.abi, "token")
	if err != nil {
		return paychan.Domain{}, fmt.Errorf("tron: escrow domain: %w", err)
	}
	tok, ok := out[0].(common.Address)
	if !ok || fromEVM(tok) != facts.token {
		return paychan.Domain{}, fmt.Errorf("%w: token() returned %v, the escrow's code holds %s", ErrBadResponse, out[0], facts.token)
	}
	d = paychan.Domain{ChainID: chainID, Escrow: e.addr, Token: facts.token, Scheme: facts.scheme}
	probe := d.Voucher(paychan.ChannelID{1}, btt.NewAmount(1))
	got, err := e.voucherDigest(ctx, probe.Channel, probe.Amount)
	if err != nil {
		return paychan.Domain{}, fmt.Errorf("tron: escrow domain: %w", err)
	}
	if got != probe.Digest() {
		return paychan.Domain{}, fmt.Errorf("%w: the escrow's voucher digest differs from paychan's for chain id %#x: the node's genesis block id does not give the EVM's chain id", ErrBadResponse, chainID)
	}
	e.mu.Lock()
	e.domain, e.period, e.haveDomain = d, facts.period, true
	e.mu.Unlock()
	return d, nil
}

// Now implements paychan.Escrow: the latest block's time.
func (e *Escrow) Now(ctx context.Context) (time.Time, error) { return e.c.Now(ctx) }

// ChallengePeriod is the payee's redeem window after a payer's StartClose,
// as the verified escrow's code holds it (see Domain).
func (e *Escrow) ChallengePeriod(ctx context.Context) (time.Duration, error) {
	if _, err := e.Domain(ctx); err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.period, nil
}

// VoucherDigest is the digest the contract recovers voucher signatures
// from (block.chainid and its own address bound in).
func (e *Escrow) VoucherDigest(ctx context.Context, id paychan.ChannelID, amount btt.Amount) ([32]byte, error) {
	return e.voucherDigest(ctx, id, amount)
}

func (e *Escrow) voucherDigest(ctx context.Context, id paychan.ChannelID, amount btt.Amount) ([32]byte, error) {
	out, err := e.c.callABI(ctx, e.addr, e.abi, "voucherDigest", [32]byte(id), amount.Big())
	if err != nil {
		return [32]byte{}, err
	}
	return escrowCodec.Bytes32("voucherDigest", out)
}

// CheckVoucher asks the contract to check a voucher as a redeem now would
// (state, window, deposit, signature) and returns the signer it recovers,
// the channel's payer; a voucher a redeem would refuse gives its mapped
// error.
func (e *Escrow) CheckVoucher(ctx context.Context, sv paychan.SignedVoucher) (btt.Address, error) {
	out, err := e.c.callABI(ctx, e.addr, e.abi, "checkVoucher", [32]byte(sv.Channel), sv.Amount.Big(), sv.Sig[:])
	if err != nil {
		return btt.Address{}, err
	}
	return escrowCodec.Address("checkVoucher", out)
}

// Open implements paychan.Escrow: it checks the token balance, approves
// the escrow if the allowance is short (see ApprovePolicy), opens the
// channel and reads its id from the ChannelOpened event.
func (e *Escrow) Open(ctx context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time) (paychan.Channel, error) {
	return e.calls().Open(ctx, payee, deposit, expiry)
}

// escrowCodec encodes the escrow's calls and decodes its answers, the
// same as bttc's (evmescrow).
var escrowCodec = evmescrow.NewCodec(ErrBadResponse)

// opened reads the new channel from the receipt's ChannelOpened event.
func (e *Escrow) opened(r *Receipt) (paychan.Channel, error) {
	logs := make([]evmescrow.Log, len(r.Logs))
	for i, l := range r.Logs {
		logs[i] = evmescrow.Log(l)
	}
	return escrowCodec.Opened(e.addr, logs)
}

// TopUp implements paychan.Escrow.
func (e *Escrow) TopUp(ctx context.Context, id paychan.ChannelID, amount btt.Amount, expiry time.Time) (paychan.Channel, error) {
	return e.calls().TopUp(ctx, id, amount, expiry)
}

// Channel implements paychan.Escrow; an unknown id gives
// paychan.ErrUnknownChannel (and the zero channel with that ID).
func (e *Escrow) Channel(ctx context.Context, id paychan.ChannelID) (paychan.Channel, error) {
	return e.calls().Channel(ctx, id)
}

func decodeChannel(id paychan.ChannelID, out []any) (paychan.Channel, error) {
	return escrowCodec.Channel(id, out)
}

// Claim implements paychan.Escrow.
func (e *Escrow) Claim(ctx context.Context, sv paychan.SignedVoucher) (paychan.Channel, error) {
	return e.redeem(ctx, "claim", sv)
}

// Close implements paychan.Escrow: it pays the payee, and refunds the
// payer the rest or, if the token refuses to credit the payer, holds it
// for the payer's Withdraw (Refund reads it).
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

// transact sends one call and waits for its receipt, after settling any
// transaction of an earlier call whose outcome is unknown. It never signs a
// new transaction while an old one may still be included, and a call with
// the same arguments as the unknown one waits for it instead.
func (e *Escrow) transact(ctx context.Context, to btt.Address, data []byte) (*Receipt, error) {
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-e.sem }()

	e.mu.Lock()
	p := e.pending
	e.mu.Unlock()
	if p != nil {
		r, err := e.settle(ctx, p.tx)
		switch {
		case r != nil: // included, successful or not
			cerr := e.keepPending(nil)
			if p.to == to && bytes.Equal(p.data, data) {
				// Its outcome, whatever the clear did: a record
				// left behind is only looked up again.
				return r, err
			}
			if cerr != nil {
				return nil, fmt.Errorf("clearing the settled transaction %s: %w", p.tx.ID, cerr)
			}
			e.remember(p, r, err)
		case errors.Is(err, ErrTxExpired): // never included: sign anew
			if err := e.keepPending(nil); err != nil {
				return nil, fmt.Errorf("clearing the expired transaction %s: %w", p.tx.ID, err)
			}
		default:
			return nil, fmt.Errorf("an earlier transaction %s has no known outcome yet; it is looked up again on the next call: %w", p.tx.ID, err)
		}
	}
	if d, ok := e.recall(to, data); ok {
		return d.R, d.Err
	}
	tx, err := e.c.SignCall(ctx, to, data)
	if err != nil {
		return nil, err // nothing sent
	}
	if e.isOpen(to, data) {
		if err := e.recordOpen(tx, data); err != nil {
			return nil, fmt.Errorf("not sending an open it could not record: %w", err)
		}
	}
	p = &pendingTx{to: to, data: bytes.Clone(data), tx: tx}
	if err := e.keepPending(p); err != nil {
		e.setPending(nil)
		return nil, fmt.Errorf("not sending a transaction it could not record: %w", err)
	}
	if err := e.c.Rebroadcast(ctx, tx); err != nil {
		var te *TxError
		if !errors.As(err, &te) {
			// Refused or expired: proven not taken.
			if cerr := e.keepPending(nil); cerr != nil {
				return nil, errors.Join(err, cerr)
			}
		}
		return nil, err
	}
	r, err := e.c.Confirm(ctx, tx)
	if err != nil && r == nil && !errors.Is(err, ErrTxExpired) {
		return nil, err // outcome unknown: stays pending
	}
	// The outcome is known: a record a failed clear leaves behind only
	// costs a look-up at the next start.
	_ = e.keepPending(nil)
	return r, err
}

// settle finds out what became of a transaction with an unknown outcome:
// it rebroadcasts it (harmless if the node has it) and waits for it.
func (e *Escrow) settle(ctx context.Context, tx *Tx) (*Receipt, error) {
	if err := e.c.Rebroadcast(ctx, tx); err != nil {
		if !errors.Is(err, ErrTxExpired) {
			var rej *TxRejectedError
			if !errors.As(err, &rej) {
				return nil, err
			}
		}
		// Expired or refused: it is either in a block already or never
		// will be.
		r, lerr := e.c.lookup(ctx, tx.ID)
		if r != nil || lerr != nil {
			return r, lerr
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrTxExpired, tx.ID, err)
	}
	return e.c.Confirm(ctx, tx)
}

// Pending returns the signed transaction of an earlier call whose outcome
// is not known yet, or nil.
func (e *Escrow) Pending() *Tx {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending == nil {
		return nil
	}
	return e.pending.tx
}

func (e *Escrow) setPending(p *pendingTx) {
	e.mu.Lock()
	e.pending = p
	e.mu.Unlock()
}
