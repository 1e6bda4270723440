package paychan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// Payer is the paying side: it opens channels and signs cumulative
// vouchers, one per verified piece, never past the deposit and never twice
// for a piece — the store records each payment before the voucher is
// signed.
//
// Every open is recorded in the store as an Intent before it is sent, and
// resolved into its channel after: an open whose outcome is unknown (the
// node went away, the process stopped) is found on chain later rather
// than paid for twice or forgotten.
type Payer struct {
	store  *Store
	escrow Escrow
	finder OpenFinder
	signer Signer
	domain Domain
}

// NewPayer returns a Payer whose escrow acts as signer's account. The
// escrow must implement OpenFinder; if it is a TxKeeper, it keeps its
// unsettled transaction in store, so that a restart settles it before
// anything else is signed.
func NewPayer(ctx context.Context, store *Store, escrow Escrow, signer Signer) (*Payer, error) {
	finder, ok := escrow.(OpenFinder)
	if !ok {
		return nil, fmt.Errorf("paychan: escrow %T cannot find the channel of an interrupted open: it does not implement paychan.OpenFinder", escrow)
	}
	if k, ok := escrow.(TxKeeper); ok {
		if err := k.KeepTxsIn(ctx, store); err != nil {
			return nil, fmt.Errorf("paychan: escrow's pending transaction: %w", err)
		}
	}
	dom, err := escrow.Domain(ctx)
	if err != nil {
		return nil, fmt.Errorf("paychan: escrow domain: %w", err)
	}
	return &Payer{store: store, escrow: escrow, finder: finder, signer: signer, domain: dom}, nil
}

// Open deposits into a new channel for payee and records it. If an
// earlier open to payee has an unknown outcome, Open completes that one
// instead and returns its channel, with that open's deposit and expiry:
// see OpenNotify.
func (p *Payer) Open(ctx context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time) (Channel, error) {
	return p.OpenNotify(ctx, payee, deposit, expiry, nil)
}

// OpenNotify is Open that calls onChain, if not nil, with the channel as
// soon as the chain has it, while it is being recorded: the caller may
// announce it to the payee meanwhile, whose reading it from the chain then
// overlaps the durable write. Nothing can be signed on the channel until
// OpenNotify returns (PayForPieces needs the record). A crash before the
// record is durable loses it, as a crash between the chain's answer and
// the write always could; the payee, which may have extended its first
// credit meanwhile, is owed at most that.
//
// An open is an Intent in the store from before it is sent until its
// outcome is known. An earlier open to payee whose outcome is still
// unknown is completed first, and its channel returned in place of a new
// one (its deposit and expiry, not these): it is looked for on chain, and
// if it is not there and a transaction of the account is still in flight,
// the same open — the same arguments — is sent again, which the escrow
// answers with the first one's outcome once it has settled what is in
// flight (tron.Escrow does, its signed transaction kept in this store).
// After an Open that fails, the chain is read again: a channel found
// there is returned as opened, whatever the error said. So a retried
// open never deposits twice, whatever expiry the retry asks for.
func (p *Payer) OpenNotify(ctx context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time, onChain func(Channel)) (Channel, error) {
	p.store.openMu.Lock()
	defer p.store.openMu.Unlock()
	ins, err := p.store.Intents()
	if err != nil {
		return Channel{}, err
	}
	for _, in := range ins {
		if in.Payee != payee {
			continue
		}
		ch, ok, err := p.complete(ctx, in, true)
		if err != nil {
			return Channel{}, fmt.Errorf("paychan: open channel: an earlier open to %s has an unknown outcome: %w", payee, err)
		}
		if ok {
			if onChain != nil {
				onChain(ch)
			}
			return ch, nil
		}
	}
	mark, err := p.finder.OpenMark(ctx)
	if err != nil {
		return Channel{}, fmt.Errorf("paychan: open channel: %w", err)
	}
	in, err := p.store.AddIntent(Intent{Payee: payee, Deposit: deposit, Expiry: expiry, Mark: mark, At: time.Now()})
	if err != nil {
		return Channel{}, fmt.Errorf("paychan: not opening a channel it could not record: %w", err)
	}
	ch, err := p.escrow.Open(ctx, payee, deposit, expiry)
	if err != nil {
		ch, ok, _, rerr := p.decide(ctx, in)
		if !ok {
			return Channel{}, errors.Join(fmt.Errorf("paychan: open channel: %w", err), rerr)
		}
		if onChain != nil {
			onChain(ch)
		}
		return ch, nil
	}
	if onChain != nil {
		onChain(ch)
	}
	if err := p.store.ResolveIntent(in.Seq, &ch); err != nil {
		return ch, err
	}
	return ch, nil
}

// complete resolves one intent (decide); if it stays in flight and
// resend, the same open is sent again. ok is false if it opened nothing
// (dropped) or, as far as can be told yet, has not (kept).
func (p *Payer) complete(ctx context.Context, in Intent, resend bool) (Channel, bool, error) {
	ch, ok, flying, err := p.decide(ctx, in)
	if err != nil || ok || !flying || !resend {
		return ch, ok, err
	}
	if _, keeps := p.escrow.(TxKeeper); !keeps {
		// Only an escrow that settles what it sent before it signs
		// again answers a resend with the first one's outcome.
		return Channel{}, false, fmt.Errorf("%w: its transaction is still in flight", ErrChainUnavailable)
	}
	ch, err = p.escrow.Open(ctx, in.Payee, in.Deposit, in.Expiry)
	if err != nil {
		ch, ok, _, rerr := p.decide(ctx, in)
		if ok {
			return ch, true, nil
		}
		return Channel{}, false, errors.Join(fmt.Errorf("sending it again: %w", err), rerr)
	}
	if err := p.store.ResolveIntent(in.Seq, &ch); err != nil {
		return ch, false, err
	}
	return ch, true, nil
}

// decide looks at an intent as the chain has it, whatever an Open said
// (an error may come after a mined open): what the escrow has in flight
// is settled first (InFlight), then the channel is looked for. Found, it
// is recorded (ok); not found with nothing in flight, the intent is
// dropped; otherwise it stays (flying). The error is the chain's, if it
// could not be asked.
func (p *Payer) decide(ctx context.Context, in Intent) (ch Channel, ok, flying bool, err error) {
	flying, err = p.finder.InFlight(ctx)
	if err != nil {
		return Channel{}, false, true, fmt.Errorf("asking the escrow what is in flight: %w", err)
	}
	ch, ok, err = p.find(ctx, in)
	if err != nil || ok {
		return ch, ok, flying, err
	}
	if !flying {
		// Not on chain, and nothing sent can land any more.
		return Channel{}, false, false, p.store.ResolveIntent(in.Seq, nil)
	}
	return Channel{}, false, true, nil
}

// find looks for an intent's channel on chain and records it if found.
func (p *Payer) find(ctx context.Context, in Intent) (Channel, bool, error) {
	recs, err := p.store.Payers()
	if err != nil {
		return Channel{}, false, err
	}
	known := make(map[ChannelID]bool, len(recs))
	for _, r := range recs {
		known[r.Channel.ID] = true
	}
	ch, ok, err := p.finder.FindOpen(ctx, in, func(id ChannelID) bool { return known[id] })
	if err != nil {
		return Channel{}, false, fmt.Errorf("looking for its channel: %w", err)
	}
	if !ok {
		return Channel{}, false, nil
	}
	if err := p.store.ResolveIntent(in.Seq, &ch); err != nil {
		return ch, false, err
	}
	return ch, true, nil
}

// ResolveIntents looks on chain for the channels of every open whose
// outcome is unknown — a run that stopped while opening, a node that went
// away — and records those it finds; it drops those not on chain when
// nothing the account sent is in flight. Nothing is sent. It returns the
// channels found, and goes on past an intent it cannot resolve (its
// error is returned with the others'); those unresolved stay for the
// next call (Open completes them too).
func (p *Payer) ResolveIntents(ctx context.Context) ([]Channel, error) {
	p.store.openMu.Lock()
	defer p.store.openMu.Unlock()
	ins, err := p.store.Intents()
	if err != nil {
		return nil, err
	}
	var found []Channel
	var errs []error
	for _, in := range ins {
		ch, ok, err := p.complete(ctx, in, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("paychan: an open to %s of %s with an unknown outcome: %w", in.Payee, in.Deposit, err))
			continue
		}
		if ok {
			found = append(found, ch)
		}
	}
	return found, errors.Join(errs...)
}

// Intents returns the opens whose outcome is not known yet.
func (p *Payer) Intents() ([]Intent, error) { return p.store.Intents() }

// Refresh reads channel id again from the chain and records it: after a
// top-up that failed with an unknown outcome (it may have been mined
// after all), before trying another.
func (p *Payer) Refresh(ctx context.Context, id ChannelID) (Channel, error) {
	ch, err := p.escrow.Channel(ctx, id)
	if err != nil {
		return Channel{}, fmt.Errorf("paychan: read channel %x: %w", id[:8], err)
	}
	if err := p.store.SetPayerChannel(ch); err != nil {
		return ch, err
	}
	return ch, nil
}

// Resume finds a channel of ours to payee to carry on paying through — a
// payer that restarts keeps the channel it had rather than locking another
// deposit. A channel qualifies if our store has it open with funds left
// (signed below the deposit) and the chain, read again now, has it open
// from our signer's address to payee until at least until. Of several, the one with the most left
// wins; it is returned as the chain has it (the store updated to match)
// with what we have signed on it. ok is false if none qualifies; err is
// the store's error, or the chain's when it could not be asked.
func (p *Payer) Resume(ctx context.Context, payee btt.Address, until time.Time) (ch Channel, signed btt.Amount, ok bool, err error) {
	recs, err := p.store.Payers()
	if err != nil {
		return Channel{}, btt.Zero, false, err
	}
	self := p.signer.Address()
	usable := func(c Channel, signed btt.Amount) bool {
		return c.Payer == self && c.Payee == payee && c.State == ChannelOpen && c.Expiry.After(until) && signed.Lt(c.Deposit)
	}
	recs = slices.DeleteFunc(recs, func(r PayerRecord) bool { return !usable(r.Channel, r.Signed) })
	slices.SortFunc(recs, func(a, b PayerRecord) int {
		return b.Channel.Deposit.SubFloor(b.Signed).Cmp(a.Channel.Deposit.SubFloor(a.Signed))
	})
	for _, r := range recs {
		c, err := p.escrow.Channel(ctx, r.Channel.ID)
		if err != nil {
			return Channel{}, btt.Zero, false, fmt.Errorf("paychan: read channel %x: %w", r.Channel.ID[:8], err)
		}
		if err := p.store.SetPayerChannel(c); err != nil {
			return Channel{}, btt.Zero, false, err
		}
		if usable(c, r.Signed) {
			return c, r.Signed, true, nil
		}
	}
	return Channel{}, btt.Zero, false, nil
}

// PayFor pays amount for a verified piece of torrent ih on channel id and
// returns the voucher to send. Paying for the same piece twice gives
// ErrAlreadyPaid; past the deposit, an *InsufficientFundsError.
func (p *Payer) PayFor(id ChannelID, ih [20]byte, pieceIndex int, amount btt.Amount) (SignedVoucher, error) {
	if pieceIndex < 0 || pieceIndex > maxPiece {
		return SignedVoucher{}, fmt.Errorf("paychan: piece %d", pieceIndex)
	}
	cum, err := p.store.reservePayment(id, ih, uint32(pieceIndex), amount)
	if err != nil {
		return SignedVoucher{}, err
	}
	return Sign(p.signer, p.domain.Voucher(id, cum))
}

// PayForPieces pays for several verified pieces with one voucher and one
// durable write: what a payment interval does. If any of the pieces is
// already paid for, none is (ErrAlreadyPaid); a piece listed twice is paid
// for once.
func (p *Payer) PayForPieces(id ChannelID, ih [20]byte, pays []PiecePayment) (SignedVoucher, error) {
	if len(pays) == 0 {
		return SignedVoucher{}, fmt.Errorf("paychan: no pieces to pay for")
	}
	cum, err := p.store.reservePayments(id, ih, pays)
	if err != nil {
		return SignedVoucher{}, err
	}
	return Sign(p.signer, p.domain.Voucher(id, cum))
}

// Latest re-signs the channel's current cumulative amount: what to resend
// after a restart.
func (p *Payer) Latest(id ChannelID) (SignedVoucher, error) {
	r, err := p.store.Payer(id)
	if err != nil {
		return SignedVoucher{}, err
	}
	return Sign(p.signer, p.domain.Voucher(id, r.Signed))
}

// TopUp adds to a channel's deposit and moves its expiry.
func (p *Payer) TopUp(ctx context.Context, id ChannelID, amount btt.Amount, expiry time.Time) (Channel, error) {
	ch, err := p.escrow.TopUp(ctx, id, amount, expiry)
	if err != nil {
		return Channel{}, fmt.Errorf("paychan: top up %x: %w", id[:8], err)
	}
	return ch, p.store.SetPayerChannel(ch)
}

// StartClose starts the payer's early close of a channel: the payee may
// still redeem until the challenge window ends; then Reclaim settles it.
func (p *Payer) StartClose(ctx context.Context, id ChannelID) (Channel, error) {
	ch, err := p.escrow.StartClose(ctx, id)
	if err != nil {
		return Channel{}, fmt.Errorf("paychan: start closing %x: %w", id[:8], err)
	}
	if err := p.store.SetPayerChannel(ch); err != nil && !errors.Is(err, ErrNotFound) {
		return ch, err
	}
	return ch, nil
}

// Channels returns the payer's channels as last recorded, with what was
// signed on each.
func (p *Payer) Channels() ([]PayerRecord, error) { return p.store.Payers() }

// PaidPieces returns the pieces of torrent ih the payer has paid for, and
// the channel each was paid through.
func (p *Payer) PaidPieces(ih [20]byte) (map[int]ChannelID, error) { return p.store.PaidPieces(ih) }

// Reclaim takes back what the payee did not redeem, after expiry.
func (p *Payer) Reclaim(ctx context.Context, id ChannelID) (Channel, error) {
	ch, err := p.escrow.Reclaim(ctx, id)
	if err != nil {
		return Channel{}, fmt.Errorf("paychan: reclaim %x: %w", id[:8], err)
	}
	if err := p.store.SetPayerChannel(ch); err != nil && !errors.Is(err, ErrNotFound) {
		return ch, err
	}
	return ch, nil
}
