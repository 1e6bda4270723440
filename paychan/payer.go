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
type Payer struct {
	store  *Store
	escrow Escrow
	signer Signer
	domain Domain
}

// NewPayer returns a Payer whose escrow acts as signer's account.
func NewPayer(ctx context.Context, store *Store, escrow Escrow, signer Signer) (*Payer, error) {
	dom, err := escrow.Domain(ctx)
	if err != nil {
		return nil, fmt.Errorf("paychan: escrow domain: %w", err)
	}
	return &Payer{store: store, escrow: escrow, signer: signer, domain: dom}, nil
}

// Open deposits into a new channel for payee and records it.
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
func (p *Payer) OpenNotify(ctx context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time, onChain func(Channel)) (Channel, error) {
	ch, err := p.escrow.Open(ctx, payee, deposit, expiry)
	if err != nil {
		return Channel{}, fmt.Errorf("paychan: open channel: %w", err)
	}
	if onChain != nil {
		onChain(ch)
	}
	if err := p.store.SavePayer(PayerRecord{Channel: ch}); err != nil {
		return ch, err
	}
	return ch, nil
}

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
	return Sign(p.signer, Voucher{ChainID: p.domain.ChainID, Escrow: p.domain.Escrow, Channel: id, Amount: cum})
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
	return Sign(p.signer, Voucher{ChainID: p.domain.ChainID, Escrow: p.domain.Escrow, Channel: id, Amount: cum})
}

// Latest re-signs the channel's current cumulative amount: what to resend
// after a restart.
func (p *Payer) Latest(id ChannelID) (SignedVoucher, error) {
	r, err := p.store.Payer(id)
	if err != nil {
		return SignedVoucher{}, err
	}
	return Sign(p.signer, Voucher{ChainID: p.domain.ChainID, Escrow: p.domain.Escrow, Channel: id, Amount: r.Signed})
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
