package market

import (
	"context"
	"log/slog"
	"time"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// BuyConfig configures a Buyer.
type BuyConfig struct {
	// StateDir holds payer.db.
	StateDir string
	Strategy bidding.Strategy
	// Budget is the most to spend; Deposit what one channel locks
	// (default: the budget); Lifetime a channel's (default 24 h).
	Budget, Deposit btt.Amount
	Lifetime        time.Duration
	Logger          *slog.Logger
}

// Buyer is a leecher's buying side over a chain.
type Buyer struct {
	Store *paychan.Store
	Payer *paychan.Payer
	Ext   *speed.Extension
}

// NewBuyer opens the payer store in cfg.StateDir — the channels opened,
// the opens whose outcome is not known yet, what was paid — and makes the
// btt_speed buyer.
func NewBuyer(ctx context.Context, c *chain.Chain, cfg BuyConfig) (*Buyer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Budget.IsZero() {
		return nil, cli.Setupf("-budget: a buyer needs a budget above zero")
	}
	if cfg.Strategy == nil {
		return nil, cli.Setupf("no bid strategy")
	}
	if err := OpenState(cfg.StateDir, c.Domain, c.Account()); err != nil {
		return nil, err
	}
	st, err := openStore(cfg.StateDir, "payer.db")
	if err != nil {
		return nil, err
	}
	// State directories of earlier versions listed channels in
	// channels.json: the payer store takes them over.
	if err := importJournal(cfg.StateDir, st, c.Account(), cfg.Logger); err != nil {
		st.Close()
		return nil, cli.Setup(err)
	}
	payer, err := paychan.NewPayer(ctx, st, c.Escrow, c.Signer)
	if err != nil {
		st.Close()
		return nil, cli.Setup(err)
	}
	// An earlier run may have stopped while opening a channel: find it.
	if found, err := payer.ResolveIntents(ctx); err != nil {
		cfg.Logger.Warn("looking for the channels an earlier run was opening when it stopped (the next open and leecher reclaim look again)", "err", err)
	} else {
		for _, ch := range found {
			cfg.Logger.Warn("found a channel an earlier run opened and did not record (it stopped while opening it): recorded now, reclaimable after expiry",
				"channel", ch.ID, "payee", ch.Payee, "deposit_btt", ch.Deposit.FormatBTT(), "expiry", ch.Expiry.UTC().Format(time.RFC3339))
		}
	}
	ext, err := speed.New(speed.Config{Domain: c.Domain, Logger: cfg.Logger,
		Buy: &speed.Buyer{Payer: payer, Strategy: cfg.Strategy, Budget: cfg.Budget, Deposit: cfg.Deposit, Lifetime: cfg.Lifetime}})
	if err != nil {
		st.Close()
		return nil, cli.Setup(err)
	}
	return &Buyer{Store: st, Payer: payer, Ext: ext}, nil
}

// Close closes the store.
func (b *Buyer) Close() error { return b.Store.Close() }

// ChannelSpend is what the buyer signed on one channel.
type ChannelSpend struct {
	Channel paychan.Channel
	Signed  btt.Amount
}

// Channels returns the channels this state directory opened, with what was
// signed on each, as the payer store last recorded them.
func (b *Buyer) Channels() ([]ChannelSpend, error) {
	recs, err := b.Payer.Channels()
	if err != nil {
		return nil, err
	}
	out := make([]ChannelSpend, 0, len(recs))
	for _, r := range recs {
		out = append(out, ChannelSpend{Channel: r.Channel, Signed: r.Signed})
	}
	return out, nil
}
