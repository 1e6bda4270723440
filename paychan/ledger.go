package paychan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bttspeed/bttspeed/btt"
)

// Credit is a payee's credit window for one payer: how many bytes it will
// serve ahead of payment. It starts near one piece and grows Growth-fold,
// up to Max, each time the payer pays, so each side risks at most the
// window. Each step waits for a voucher — a piece verified, then a durable
// write on each side, a few milliseconds — with the payer held at its
// window meanwhile. By default (DefaultCreditGrowth) the first payment
// opens the window to Max at once: with growth per payment, a smaller
// step held back only a payer that stops after exactly one voucher (one
// that pays twice, for a piece each time, got Max all the same), and it
// cost a fast transfer about 3% of its throughput (docs/DECISIONS.md,
// session 14). A payer that stops paying still gets at most the window it
// had. Pure.
type Credit struct {
	Window, Max int64
	// Growth is the factor a payment grows the window by (at least 2).
	Growth int64
}

// DefaultCreditGrowth is how much a payment grows the credit window by
// default: from a start of about a piece straight to any Max up to 1024
// pieces (256 KiB to 256 MiB).
const DefaultCreditGrowth = 1024

// NewCredit returns a window that starts at start bytes, may grow to
// limit, and grows growth-fold with each payment (DefaultCreditGrowth if
// growth is below 2).
func NewCredit(start, limit, growth int64) Credit {
	if start <= 0 {
		start = 1
	}
	c := Credit{Window: start, Max: max(limit, start), Growth: growth}
	c.Growth = c.growth()
	return c
}

// growth is Growth, or DefaultCreditGrowth if it is below 2 (a zero
// Credit).
func (c Credit) growth() int64 {
	if c.Growth < 2 {
		return DefaultCreditGrowth
	}
	return c.Growth
}

// Allows reports whether a payer with unpaid bytes outstanding may be
// served more.
func (c Credit) Allows(unpaid int64) bool { return unpaid < c.Window }

// Paid grows the window after the payer paid.
func (c *Credit) Paid() {
	g := c.growth()
	if c.Window > c.Max/g {
		c.Window = c.Max
		return
	}
	c.Window = min(g*c.Window, c.Max)
}

// PayeeConfig configures a Payee.
type PayeeConfig struct {
	// Self is our address: channels must pay it.
	Self btt.Address
	// ExpiryMargin refuses vouchers on channels expiring within it, and
	// is how early Due asks to redeem before expiry (default 1 h).
	ExpiryMargin time.Duration
	// RedeemThreshold makes Due report a channel once its unredeemed
	// value reaches it (zero: only near expiry).
	RedeemThreshold btt.Amount
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Payee is the receiving side of payment channels. It verifies each
// voucher locally and persists it before crediting the payer; chain reads
// happen only when a channel is accepted, never under its lock.
type Payee struct {
	store  *Store
	escrow Escrow
	cfg    PayeeConfig
	domain Domain

	mu    sync.Mutex
	chans map[ChannelID]Channel
}

// NewPayee returns a Payee over a store and an escrow that acts as cfg.Self.
func NewPayee(ctx context.Context, store *Store, escrow Escrow, cfg PayeeConfig) (*Payee, error) {
	if cfg.Self.IsZero() {
		return nil, errors.New("paychan: payee needs its own address")
	}
	if cfg.ExpiryMargin < 0 {
		return nil, errors.New("paychan: negative expiry margin")
	}
	if cfg.ExpiryMargin == 0 {
		cfg.ExpiryMargin = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dom, err := escrow.Domain(ctx)
	if err != nil {
		return nil, fmt.Errorf("paychan: escrow domain: %w", err)
	}
	p := &Payee{store: store, escrow: escrow, cfg: cfg, domain: dom, chans: make(map[ChannelID]Channel)}
	recs, err := store.Payees()
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		p.chans[r.Channel.ID] = r.Channel
	}
	return p, nil
}

// Domain returns the chain and escrow vouchers must bind.
func (p *Payee) Domain() Domain { return p.domain }

// Accept reads a channel a payer announced from the chain, checks that it
// is open, pays us, and does not expire soon, and remembers it. Vouchers
// for it are accepted from then on.
func (p *Payee) Accept(ctx context.Context, id ChannelID) (Channel, error) {
	ch, err := p.escrow.Channel(ctx, id)
	if err != nil {
		return Channel{}, fmt.Errorf("paychan: read channel %x: %w", id[:8], err)
	}
	switch {
	case ch.State == ChannelUnknown:
		return Channel{}, fmt.Errorf("%w: %x", ErrUnknownChannel, id[:8])
	case ch.State != ChannelOpen:
		return Channel{}, fmt.Errorf("%w: %x is %s", ErrChannelClosed, id[:8], ch.State)
	case ch.Payee != p.cfg.Self:
		return Channel{}, fmt.Errorf("%w: %s", ErrWrongPayee, ch.Payee)
	case !p.cfg.Now().Add(p.cfg.ExpiryMargin).Before(ch.Expiry):
		return Channel{}, fmt.Errorf("%w: expires %s", ErrExpired, ch.Expiry.UTC().Format(time.RFC3339))
	}
	// Reads of a channel can finish out of order (two connections of one
	// payer, each told of a top-up): a channel only moves forward, so a
	// read never moves back what is known (laterChain). Nothing is
	// written: a channel without a voucher has nothing to redeem, and
	// Receive stores the channel with each voucher, in one transaction —
	// one durable write fewer before the payer's first byte.
	if r, err := p.store.Payee(id); err == nil {
		ch = laterChain(r.Channel, ch)
	} else if !errors.Is(err, ErrNotFound) {
		return Channel{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// The same for the channels remembered: the other read may have
	// stored its record first and remember it last.
	if cur, ok := p.chans[id]; ok {
		ch = laterChain(cur, ch)
	}
	p.chans[id] = ch
	return ch, nil
}

// Receive verifies a voucher and, once it is durably stored, returns what it
// adds: only then may the payer be credited. A voucher for a channel not
// accepted first gives ErrUnknownChannel.
func (p *Payee) Receive(sv SignedVoucher) (btt.Amount, error) {
	delta, _, err := p.receive(sv, nil)
	return delta, err
}

// PiecesBought is what a voucher says it pays for in one torrent: pieces
// its payer bought whole from us, at Price per byte or more.
type PiecesBought struct {
	InfoHash [20]byte
	Pieces   []PieceSize
	Price    btt.Amount
}

// PieceSize is a piece and its size in bytes.
type PieceSize struct {
	Piece int
	Bytes int64
}

// ReceivePieces is Receive that also records, in the same durable
// transaction, the pieces the voucher says it pays for, as far as the
// channel's payments cover them: a piece costs its bytes at bought.Price,
// and what the pieces recorded on a channel cost (PayeeRecord.Listed) never
// passes its best voucher. A piece recorded before costs nothing again;
// the pieces past what the payments cover, and all of them at a zero
// price, are left out. It returns what the voucher adds and the pieces
// recorded now. The claim is the payer's word, bounded by what it paid: a
// payee that serves recorded pieces again free (as package speed does)
// gives a payer at most what it paid for, at bought.Price.
func (p *Payee) ReceivePieces(sv SignedVoucher, bought PiecesBought) (btt.Amount, []int, error) {
	return p.receive(sv, &bought)
}

// SoldPieces returns the pieces of torrent ih recorded as paid for through
// channel id (ReceivePieces), in increasing order.
func (p *Payee) SoldPieces(id ChannelID, ih [20]byte) ([]int, error) {
	return p.store.SoldPieces(id, ih)
}

func (p *Payee) receive(sv SignedVoucher, bought *PiecesBought) (btt.Amount, []int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.chans[sv.Channel]
	if !ok {
		return btt.Zero, nil, fmt.Errorf("%w: %x (not announced)", ErrUnknownChannel, sv.Channel[:8])
	}
	var delta btt.Amount
	var recorded []int
	_, err := p.store.updatePayee(sv.Channel, func(tx *bolt.Tx, r *PayeeRecord, _ bool) error {
		var err error
		delta, err = Verify(Check{Domain: p.domain, Payee: p.cfg.Self, Channel: ch, Prev: r.Best.Amount, Now: p.cfg.Now(), ExpiryMargin: p.cfg.ExpiryMargin}, sv)
		if err != nil {
			return err
		}
		r.Channel = ch
		r.Best = sv
		if bought == nil || bought.Price.IsZero() {
			return nil
		}
		legacy := tx.Bucket(bucketSold)
		sold := newPieceSet(tx.Bucket(bucketSoldSet), soldPrefix(sv.Channel, bought.InfoHash))
		for _, ps := range bought.Pieces {
			if ps.Piece < 0 || ps.Piece > maxPiece || ps.Bytes <= 0 {
				continue
			}
			if legacy.Get(soldKey(sv.Channel, bought.InfoHash, ps.Piece)) != nil {
				continue
			}
			had, err := sold.has(ps.Piece)
			if err != nil || had {
				// Recorded before; or a corrupt chunk of the list,
				// whose pieces go unrecorded while the voucher, which
				// is money, is stored all the same.
				continue
			}
			cost, err := bought.Price.MulUint64(uint64(ps.Bytes))
			if err != nil {
				break
			}
			listed, err := r.Listed.Add(cost)
			if err != nil || listed.Gt(sv.Amount) {
				break // the payments cover no more
			}
			if err := sold.add(ps.Piece); err != nil {
				return err
			}
			r.Listed = listed
			recorded = append(recorded, ps.Piece)
		}
		return sold.flush()
	})
	if err != nil {
		return btt.Zero, nil, err
	}
	return delta, recorded, nil
}

// Due returns the channels to redeem now: with value not yet redeemed, and
// either near expiry (within twice the margin) or over the threshold.
func (p *Payee) Due() ([]ChannelID, error) {
	recs, err := p.store.Payees()
	if err != nil {
		return nil, err
	}
	now := p.cfg.Now()
	var out []ChannelID
	for _, r := range recs {
		owed := r.Best.Amount.SubFloor(r.Redeemed)
		if owed.IsZero() || r.Channel.State == ChannelClosed {
			continue
		}
		near := !now.Add(2 * p.cfg.ExpiryMargin).Before(r.Channel.Expiry)
		over := !p.cfg.RedeemThreshold.IsZero() && !owed.Lt(p.cfg.RedeemThreshold)
		if near || over {
			out = append(out, r.Channel.ID)
		}
	}
	return out, nil
}

// Redeem cashes a channel's best voucher on chain: Claim keeps the channel
// open, close settles it and refunds the payer the rest. It does nothing if
// everything is already redeemed.
func (p *Payee) Redeem(ctx context.Context, id ChannelID, close bool) (btt.Amount, error) {
	r, err := p.store.Payee(id)
	if err != nil {
		return btt.Zero, fmt.Errorf("paychan: redeem %x: %w", id[:8], err)
	}
	owed := r.Best.Amount.SubFloor(r.Redeemed)
	if owed.IsZero() && !close {
		return btt.Zero, nil
	}
	var ch Channel
	if close {
		ch, err = p.escrow.Close(ctx, r.Best)
	} else {
		ch, err = p.escrow.Claim(ctx, r.Best)
	}
	if errors.Is(err, ErrNotIncreasing) || errors.Is(err, ErrChannelClosed) {
		// Redeemed already on chain — claimed, or closed — and not yet
		// in the store (a crash between the two): the chain says what
		// was paid. (A channel the payer settled is closed too; then
		// what was not paid is lost, and the error stands.)
		if onChain, cerr := p.escrow.Channel(ctx, id); cerr == nil && !onChain.Paid.Lt(r.Best.Amount) {
			ch, err, owed = onChain, nil, btt.Zero
		}
	}
	if err != nil {
		return btt.Zero, fmt.Errorf("paychan: redeem %x: %w", id[:8], err)
	}
	if _, err := p.store.updatePayee(id, func(_ *bolt.Tx, rec *PayeeRecord, _ bool) error {
		rec.Redeemed = btt.Max(rec.Redeemed, r.Best.Amount)
		rec.Channel = laterChain(rec.Channel, ch)
		return nil
	}); err != nil {
		return owed, err
	}
	p.mu.Lock()
	if cur, ok := p.chans[id]; ok {
		ch = laterChain(cur, ch)
	}
	p.chans[id] = ch
	p.mu.Unlock()
	return owed, nil
}

// RedeemAll redeems every channel with value not yet redeemed (on
// shutdown), and returns the first error after trying them all.
func (p *Payee) RedeemAll(ctx context.Context, close bool) (btt.Amount, error) {
	recs, err := p.store.Payees()
	if err != nil {
		return btt.Zero, err
	}
	var total btt.Amount
	var first error
	for _, r := range recs {
		owed := r.Best.Amount.SubFloor(r.Redeemed)
		// Closing, a channel whose vouchers were all claimed already
		// is closed too: that refunds the payer the rest at once.
		settle := close && !r.Best.Amount.IsZero() && r.Channel.State != ChannelClosed
		if owed.IsZero() && !settle {
			continue
		}
		got, err := p.Redeem(ctx, r.Channel.ID, close)
		if err != nil && owed.IsZero() && errors.Is(err, ErrChannelClosed) {
			err = nil // the payer settled it meanwhile: nothing was owed
		}
		if err != nil && first == nil {
			first = err
		}
		total, _ = total.Add(got)
	}
	return total, first
}

// Totals are a payee's figures: earned (the best vouchers' sum), redeemed
// on chain, and redeemable (the difference).
type Totals struct {
	Earned, Redeemed, Redeemable btt.Amount
}

// Totals sums the store's payee records.
func (p *Payee) Totals() (Totals, error) {
	recs, err := p.store.Payees()
	if err != nil {
		return Totals{}, err
	}
	var t Totals
	for _, r := range recs {
		t.Earned, _ = t.Earned.Add(r.Best.Amount)
		t.Redeemed, _ = t.Redeemed.Add(r.Redeemed)
	}
	t.Redeemable = t.Earned.SubFloor(t.Redeemed)
	return t, nil
}

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
