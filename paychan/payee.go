package paychan

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bttspeed/bttspeed/btt"
)

// PayeeConfig configures a Payee.
type PayeeConfig struct {
	// Self is our address: channels must pay it.
	Self btt.Address
	// ExpiryMargin refuses vouchers on channels expiring within it, and
	// is how early Due asks to redeem before a channel's deadline: it
	// closes a channel whose deadline is within twice the margin
	// (default 1 h).
	ExpiryMargin time.Duration
	// RedeemThreshold makes Due report a channel once its unredeemed
	// value reaches it (zero: only near its deadline).
	RedeemThreshold btt.Amount
	// MinRedeem is the floor of what is worth a transaction: a channel
	// whose unredeemed value is below it is not redeemed on its own —
	// not at the threshold, not near its deadline, not by RedeemAll at
	// shutdown — and redeemed as usual once its value reaches it. (Redeem
	// called directly redeems whatever there is; RedeemAll with close
	// still settles a channel paid at least MinRedeem in all, and the
	// dust on it with it.) The cost: value below the floor is forgone if
	// the channel reaches its deadline, or the payer settles it, without
	// growing past it — less than MinRedeem per channel. Zero means
	// DefaultMinRedeem; 1 base unit redeems any value.
	MinRedeem btt.Amount
	// MinDeposit is the least deposit Accept takes; a smaller one gives
	// ErrDepositTooSmall. Zero means the larger of DefaultMinDeposit and
	// MinRedeem: a deposit below MinRedeem could never be redeemed on its
	// own. 1 base unit takes any deposit.
	MinDeposit btt.Amount
	// FollowInterval is how often, at most, Follow reads a channel again
	// from the chain (default DefaultFollowInterval(ExpiryMargin):
	// min(ExpiryMargin/4, 1 min)). A payer's early close is seen within
	// it, and the payee must then redeem before the challenge window
	// ends: keep it well under the escrow's challenge period (1 h on the
	// devnet) as well as under ExpiryMargin.
	FollowInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultMinRedeem and DefaultMinDeposit, in base units, are the floors
// of a PayeeConfig that sets none: 16,384 base units (1.6e-14 BTT), what
// a 16 KiB block costs at the lowest price a bid can name (1 base unit
// per byte) — the least an honest voucher pays for, short of a torrent's
// last piece. So the defaults forgo nothing of an honest trade at any
// price, and stop a payer from making the seller spend a transaction on
// a channel holding a base unit, or a deposit too small to pay for a
// block. They are not the break-even: a claim or a close costs 300-400
// bytes of bandwidth and 50-90k energy, about 0.3 TRX with staked
// resources and up to about 15 TRX burnt — 10^5 BTT and more at 2025
// prices — while the examples in this repository trade a few BTT. A
// seller on mainnet should set MinRedeem to what a transaction costs it
// (docs/DECISIONS.md, "Dust").
const (
	DefaultMinRedeem  = 16 << 10
	DefaultMinDeposit = 16 << 10
)

// DefaultFollowInterval is FollowInterval's default for an expiry margin:
// a quarter of the margin, at most a minute. A minute keeps what a payer
// that closes early can be credited meanwhile small, costs one read of
// each followed channel per minute (a constant call: no fee), and leaves
// nearly all of the challenge window for the redemption; a quarter of the
// margin leaves time to redeem before a deadline the read moved.
func DefaultFollowInterval(margin time.Duration) time.Duration {
	return max(min(margin/4, time.Minute), time.Millisecond)
}

// Payee is the receiving side of payment channels. It verifies each
// voucher locally and persists it before crediting the payer. It reads a
// channel from the chain when it is accepted and then, to see a payer's
// early close, again every FollowInterval while it follows it (Follow);
// never under its lock.
type Payee struct {
	store  *Store
	escrow Escrow
	cfg    PayeeConfig
	domain Domain

	mu    sync.Mutex
	chans map[ChannelID]Channel
	// readAt is when each channel was last read from the chain (by
	// Accept or Follow), on cfg.Now's clock.
	readAt map[ChannelID]time.Time
	// closing holds the channels the payee has decided to close
	// (Redeem with close): they take no more vouchers (ErrChannelClosing).
	// A mark stays for the life of the process, the close failing or
	// not: a close whose outcome is unknown may still be mined, and the
	// payer was told to open a new channel. After a restart the
	// Redeemer decides again.
	closing map[ChannelID]bool
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
	if cfg.FollowInterval < 0 {
		return nil, errors.New("paychan: negative follow interval")
	}
	if cfg.FollowInterval == 0 {
		cfg.FollowInterval = DefaultFollowInterval(cfg.ExpiryMargin)
	}
	if cfg.MinRedeem.IsZero() {
		cfg.MinRedeem = btt.NewAmount(DefaultMinRedeem)
	}
	if cfg.MinDeposit.IsZero() {
		cfg.MinDeposit = btt.Max(btt.NewAmount(DefaultMinDeposit), cfg.MinRedeem)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dom, err := escrow.Domain(ctx)
	if err != nil {
		return nil, fmt.Errorf("paychan: escrow domain: %w", err)
	}
	p := &Payee{store: store, escrow: escrow, cfg: cfg, domain: dom, chans: make(map[ChannelID]Channel), readAt: make(map[ChannelID]time.Time), closing: make(map[ChannelID]bool)}
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
// is open, pays us, holds at least MinDeposit, and does not expire soon,
// and remembers it. Vouchers
// for it are accepted from then on. A channel the payee is closing gives
// ErrChannelClosing.
func (p *Payee) Accept(ctx context.Context, id ChannelID) (Channel, error) {
	if p.isClosing(id) {
		return Channel{}, fmt.Errorf("%w: %x", ErrChannelClosing, id[:8])
	}
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
	case ch.Deposit.Lt(p.cfg.MinDeposit):
		return Channel{}, fmt.Errorf("%w: %s base units, this payee takes %s at least", ErrDepositTooSmall, ch.Deposit, p.cfg.MinDeposit)
	case !p.cfg.Now().Add(p.cfg.ExpiryMargin).Before(Deadline(ch)):
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
	p.readAt[id] = p.cfg.Now()
	return ch, nil
}

// Receive verifies a voucher and, once it is durably stored, returns what it
// adds: only then may the payer be credited. A voucher for a channel not
// accepted first gives ErrUnknownChannel; one for a channel the payee is
// closing, ErrChannelClosing (it would not be redeemed).
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

// Best returns the amount of the best voucher stored on channel id, zero
// if none: what the channel's deposit has already promised the payee.
func (p *Payee) Best(id ChannelID) (btt.Amount, error) {
	r, err := p.store.Payee(id)
	switch {
	case errors.Is(err, ErrNotFound):
		return btt.Zero, nil
	case err != nil:
		return btt.Zero, err
	}
	return r.Best.Amount, nil
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
	closing := p.closing[sv.Channel]
	var delta btt.Amount
	var recorded []int
	_, err := p.store.updatePayee(sv.Channel, func(tx *bolt.Tx, r *PayeeRecord, _ bool) error {
		var err error
		delta, err = Verify(Check{Domain: p.domain, Payee: p.cfg.Self, Channel: ch, Prev: r.Best.Amount, Now: p.cfg.Now(), ExpiryMargin: p.cfg.ExpiryMargin}, sv)
		if err != nil {
			return err
		}
		if closing {
			// A good voucher, but the close may have read the best
			// voucher already: refused, so never credited and lost.
			return fmt.Errorf("%w: %x", ErrChannelClosing, sv.Channel[:8])
		}
		// What Follow or Redeem stored may be later than what is
		// remembered here: never move the record back.
		r.Channel = laterChain(r.Channel, ch)
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

// Due returns the channels to redeem now: with value not yet redeemed
// before their deadline (Deadline), and either closing — the payer's
// early close, seen by Follow — or near the deadline (within twice the
// margin), or over the threshold (redeemNow).
func (p *Payee) Due() ([]ChannelID, error) {
	recs, err := p.store.Payees()
	if err != nil {
		return nil, err
	}
	now := p.cfg.Now()
	var out []ChannelID
	for _, r := range recs {
		var closing bool
		r.Channel, closing = p.known(r.Channel)
		if due, _ := p.policy().redeemNow(r, closing, now); due {
			out = append(out, r.Channel.ID)
		}
	}
	return out, nil
}

// known merges what the payee remembers of a channel into a stored read
// of it (Follow remembers a close before it stores it), and says whether
// the payee is closing it.
func (p *Payee) known(ch Channel) (Channel, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur, ok := p.chans[ch.ID]; ok {
		ch = laterChain(ch, cur)
	}
	return ch, p.closing[ch.ID]
}

// isClosing reports whether the payee has decided to close channel id.
func (p *Payee) isClosing(id ChannelID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing[id]
}

// Redeem cashes a channel's best voucher on chain: Claim keeps the channel
// open, close settles it and refunds the payer the rest. It does nothing if
// everything is already redeemed and close is false. A close the chain
// refuses because the token would not make a transfer (ErrTokenRefused:
// an escrow that refunds the payer in the close's transaction, and a
// token that will not credit the payer) is followed by a claim, which pays
// the payee alone: the payee's money never waits on the payer's refund. To close, it first
// marks the channel closing, and only then reads the best voucher: a
// voucher that arrives meanwhile is either stored before the mark, and
// closed with, or refused with ErrChannelClosing — never credited and
// left unredeemed. The mark stays, the close failing or not (see
// Payee.closing).
func (p *Payee) Redeem(ctx context.Context, id ChannelID, close bool) (btt.Amount, error) {
	if close {
		// Under the lock receive stores under: a voucher is stored
		// before the mark, or sees it.
		p.mu.Lock()
		p.closing[id] = true
		p.mu.Unlock()
	}
	r, err := p.store.Payee(id)
	if err != nil {
		if close && errors.Is(err, ErrNotFound) {
			// Nothing stored, nothing to close with: nothing in flight.
			p.mu.Lock()
			delete(p.closing, id)
			p.mu.Unlock()
		}
		return btt.Zero, fmt.Errorf("paychan: redeem %x: %w", id[:8], err)
	}
	owed := r.Best.Amount.SubFloor(r.Redeemed)
	if owed.IsZero() && !close {
		return btt.Zero, nil
	}
	var ch Channel
	if close {
		ch, err = p.escrow.Close(ctx, r.Best)
		if errors.Is(err, ErrTokenRefused) {
			ch, err = p.claimInstead(ctx, r.Best, owed, err)
		}
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

// claimInstead claims sv after a close of it failed with closeErr, a
// token refusing a transfer. With nothing owed there is nothing to claim:
// the payee's money is safe and the close's error stands.
func (p *Payee) claimInstead(ctx context.Context, sv SignedVoucher, owed btt.Amount, closeErr error) (Channel, error) {
	if owed.IsZero() {
		return Channel{}, closeErr
	}
	ch, err := p.escrow.Claim(ctx, sv)
	if err != nil {
		return Channel{}, fmt.Errorf("%w (claimed instead after the close failed: %v)", err, closeErr)
	}
	return ch, nil
}

// RedeemAll redeems every channel with value not yet redeemed, at least
// MinRedeem (on shutdown), and returns the first error after trying them
// all. With close it closes them, and the channels it was paid at least
// MinRedeem on, except those the payer is closing, which it claims.
func (p *Payee) RedeemAll(ctx context.Context, close bool) (btt.Amount, error) {
	recs, err := p.store.Payees()
	if err != nil {
		return btt.Zero, err
	}
	var total btt.Amount
	var first error
	for _, r := range recs {
		ch, _ := p.known(r.Channel)
		owed := r.Best.Amount.SubFloor(r.Redeemed)
		worth := !owed.IsZero() && !owed.Lt(p.cfg.MinRedeem)
		// A channel the payer is closing is claimed, never closed
		// (redeemPolicy.closeNow).
		c := close && ch.State != ChannelClosing
		// Closing, a channel whose vouchers were all claimed already
		// (or all but dust) is closed too: that refunds the payer the
		// rest at once. Not one that was never paid the floor.
		settle := c && !r.Best.Amount.IsZero() && !r.Best.Amount.Lt(p.cfg.MinRedeem) && ch.State != ChannelClosed
		if !worth && !settle {
			continue
		}
		got, err := p.Redeem(ctx, r.Channel.ID, c)
		if err != nil && !worth && (errors.Is(err, ErrChannelClosed) || errors.Is(err, ErrTokenRefused)) {
			// The payer settled it meanwhile, or the token refused the
			// payer's refund: nothing worth it was owed.
			err = nil
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
