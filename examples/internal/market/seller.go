package market

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// SellConfig configures a Seller.
type SellConfig struct {
	// StateDir holds payee.db.
	StateDir string
	// Reserve is the price per byte a bid must reach to win a paid slot
	// (the seller's ask).
	Reserve btt.Amount
	// Slots, FreePercent and Rotation configure choker.BidDriven.
	Slots, FreePercent int
	Rotation           time.Duration
	// ExpiryMargin: vouchers on channels expiring within it are refused,
	// and channels within twice it are closed (default 1 h).
	ExpiryMargin time.Duration
	// RedeemThreshold: the Redeemer claims a channel once this much of it
	// is unredeemed (zero: only near expiry).
	RedeemThreshold btt.Amount
	// MinRedeem and MinDeposit are paychan.PayeeConfig's floors: below
	// MinRedeem a channel is not redeemed on its own (nor at shutdown),
	// and a deposit below MinDeposit is refused (zero: paychan's
	// defaults).
	MinRedeem, MinDeposit btt.Amount
	// CreditStart, CreditMax and CreditGrowth are speed.Seller's (zero:
	// its defaults).
	CreditStart, CreditMax, CreditGrowth int64
	Logger                               *slog.Logger
}

// Seller is a seeder's selling side over a chain.
type Seller struct {
	Store *paychan.Store
	Payee *paychan.Payee
	Ext   *speed.Extension
	cfg   SellConfig
	chain *chain.Chain

	mu        sync.Mutex
	redeemed  int // successful redemptions with value
	failures  int
	lastError string
}

// NewSeller opens the payee store in cfg.StateDir and makes the btt_speed
// seller; the caller runs the peer client with Ext and Policy.
func NewSeller(ctx context.Context, c *chain.Chain, cfg SellConfig) (*Seller, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ExpiryMargin == 0 {
		cfg.ExpiryMargin = time.Hour
	}
	if cfg.Reserve.IsZero() {
		return nil, cli.Setupf("-reserve: a seller needs a reserve price above zero")
	}
	if _, err := choker.NewBidDriven(choker.BidDrivenConfig{Slots: cfg.Slots, FreePercent: cfg.FreePercent, Reserve: cfg.Reserve, RotationPeriod: cfg.Rotation}); err != nil {
		return nil, cli.Setup(err)
	}
	if err := OpenState(cfg.StateDir, c.Domain, c.Account()); err != nil {
		return nil, err
	}
	st, err := openStore(cfg.StateDir, "payee.db")
	if err != nil {
		return nil, err
	}
	payee, err := paychan.NewPayee(ctx, st, c.Escrow, paychan.PayeeConfig{Self: c.Account(), ExpiryMargin: cfg.ExpiryMargin, RedeemThreshold: cfg.RedeemThreshold, MinRedeem: cfg.MinRedeem, MinDeposit: cfg.MinDeposit})
	if err != nil {
		st.Close()
		return nil, cli.Setup(err)
	}
	ext, err := speed.New(speed.Config{Domain: c.Domain, Logger: cfg.Logger,
		Sell: &speed.Seller{Payee: payee, Self: c.Account(), Ask: cfg.Reserve, CreditStart: cfg.CreditStart, CreditMax: cfg.CreditMax, CreditGrowth: cfg.CreditGrowth}})
	if err != nil {
		st.Close()
		return nil, cli.Setup(err)
	}
	return &Seller{Store: st, Payee: payee, Ext: ext, cfg: cfg, chain: c}, nil
}

// Policy makes a torrent's choking policy: the auction, its reserve the
// seller's ask (speed.Extension.Policy).
func (s *Seller) Policy() (choker.Policy, error) {
	return s.Ext.Policy(choker.BidDrivenConfig{Slots: s.cfg.Slots, FreePercent: s.cfg.FreePercent, RotationPeriod: s.cfg.Rotation})()
}

// Reserve is the reserve price per byte.
func (s *Seller) Reserve() btt.Amount { return s.cfg.Reserve }

// Slots returns the paid and free slot counts of the policy.
func (s *Seller) Slots() (paid, free int) {
	p, err := choker.NewBidDriven(choker.BidDrivenConfig{Slots: s.cfg.Slots, FreePercent: s.cfg.FreePercent, Reserve: s.cfg.Reserve, RotationPeriod: s.cfg.Rotation})
	if err != nil {
		return 0, 0
	}
	return p.PaidSlots(), p.FreeSlots()
}

// RunRedeemer redeems on a schedule until ctx ends (paychan.Redeemer),
// logging every attempt.
func (s *Seller) RunRedeemer(ctx context.Context, every time.Duration) {
	r := &paychan.Redeemer{Payee: s.Payee, Interval: every, Report: s.report}
	_ = r.Run(ctx)
}

func (s *Seller) report(id paychan.ChannelID, got btt.Amount, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failures++
		s.lastError = err.Error()
		s.cfg.Logger.Warn("redeeming failed; will retry", "channel", fmt.Sprintf("%x", id[:]), "err", err)
		return
	}
	if !got.IsZero() {
		s.redeemed++
	}
	s.cfg.Logger.Info("redeemed", "channel", fmt.Sprintf("%x", id[:]), "amount", got.String(), "btt", got.FormatBTT())
}

// RedeemStats are the redemption counters.
type RedeemStats struct {
	Redemptions, Failures int
	LastError             string
}

// RedeemStats returns the redemption counters.
func (s *Seller) RedeemStats() RedeemStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return RedeemStats{s.redeemed, s.failures, s.lastError}
}

// ShutdownResult is what the final redemption did.
type ShutdownResult struct {
	// Redeemed is the value cashed now; Closed and Claimed count the
	// channels settled and the channels claimed and left open.
	Redeemed        btt.Amount
	Closed, Claimed int
	// Left is what stays unredeemed (failures), for the next start.
	Left btt.Amount
	// BelowFloor counts the channels left unredeemed for holding less
	// than MinRedeem: each would cost more to redeem than it holds.
	BelowFloor int
}

// RedeemOnShutdown cashes every voucher not yet redeemed: a channel near
// expiry (within twice the expiry margin, as paychan.Payee.Due counts it)
// is closed, the others are claimed and stay open for the payer to keep
// using. It tries every channel and returns the first error; ctx bounds
// the whole.
func (s *Seller) RedeemOnShutdown(ctx context.Context) (ShutdownResult, error) {
	var res ShutdownResult
	recs, err := s.Store.Payees()
	if err != nil {
		return res, err
	}
	now := time.Now()
	floor := s.cfg.MinRedeem
	if floor.IsZero() {
		floor = btt.NewAmount(paychan.DefaultMinRedeem)
	}
	var errs []error
	for _, r := range recs {
		owed := r.Best.Amount.SubFloor(r.Redeemed)
		if owed.IsZero() || r.Channel.State == paychan.ChannelClosed {
			continue
		}
		if owed.Lt(floor) {
			res.BelowFloor++
			continue
		}
		// Near its deadline (the expiry, or the end of the payer's early
		// close), a channel is closed; one the payer is closing is
		// claimed: a close would also pay the payer, which a token can
		// refuse.
		closeIt := r.Channel.State == paychan.ChannelOpen && !now.Add(2*s.cfg.ExpiryMargin).Before(paychan.Deadline(r.Channel))
		got, err := s.Payee.Redeem(ctx, r.Channel.ID, closeIt)
		if err == nil {
			// Redeem may find the channel closed already, by an
			// earlier run that died before recording it.
			if rec, rerr := s.Store.Payee(r.Channel.ID); rerr == nil {
				closeIt = rec.Channel.State == paychan.ChannelClosed
			}
		}
		s.report(r.Channel.ID, got, err)
		if err != nil {
			res.Left, _ = res.Left.Add(owed)
			errs = append(errs, err)
			continue
		}
		res.Redeemed, _ = res.Redeemed.Add(got)
		if closeIt {
			res.Closed++
		} else {
			res.Claimed++
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("%d of the channels could not be redeemed (they stay in the store: a later run redeems them on its schedule or at its shutdown): %w", len(errs), errors.Join(errs...))
	}
	return res, nil
}

// Close closes the store.
func (s *Seller) Close() error { return s.Store.Close() }
