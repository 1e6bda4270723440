package market

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
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
	// StateDir holds payer.db and channels.json.
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
	Store   *paychan.Store
	Payer   *paychan.Payer
	Buyer   *speed.Buyer
	Ext     *speed.Extension
	Journal *Journal
}

// NewBuyer opens the payer store and the channel journal in cfg.StateDir
// and makes the btt_speed buyer.
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
	j := OpenJournal(cfg.StateDir)
	if _, err := j.Entries(); err != nil {
		st.Close()
		return nil, cli.Setup(err)
	}
	payer, err := paychan.NewPayer(ctx, st, journalEscrow{Escrow: c.Escrow, j: j, log: cfg.Logger}, c.Signer)
	if err != nil {
		st.Close()
		return nil, cli.Setup(err)
	}
	b := &speed.Buyer{Payer: payer, Strategy: cfg.Strategy, Budget: cfg.Budget, Deposit: cfg.Deposit, Lifetime: cfg.Lifetime}
	ext, err := speed.New(speed.Config{Domain: c.Domain, Buy: b, Logger: cfg.Logger})
	if err != nil {
		st.Close()
		return nil, cli.Setup(err)
	}
	return &Buyer{Store: st, Payer: payer, Buyer: b, Ext: ext, Journal: j}, nil
}

// Close closes the store.
func (b *Buyer) Close() error { return b.Store.Close() }

// ChannelSpend is what the buyer signed on one channel.
type ChannelSpend struct {
	Channel paychan.Channel
	Signed  btt.Amount
}

// Channels returns the channels this state directory opened, with what was
// signed on each (the payer store's view).
func (b *Buyer) Channels() ([]ChannelSpend, error) {
	es, err := b.Journal.Entries()
	if err != nil {
		return nil, err
	}
	out := make([]ChannelSpend, 0, len(es))
	for _, e := range es {
		r, err := b.Store.Payer(e.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, ChannelSpend{Channel: r.Channel, Signed: r.Signed})
	}
	return out, nil
}

// JournalEntry is a channel the leecher opened.
type JournalEntry struct {
	ID      paychan.ChannelID
	Payee   btt.Address
	Deposit btt.Amount
	Expiry  time.Time
}

type journalJSON struct {
	ID      string      `json:"id"`
	Payee   btt.Address `json:"payee"`
	Deposit btt.Amount  `json:"deposit"`
	Expiry  time.Time   `json:"expiry"`
}

// Journal lists the channels a leecher opened (channels.json), so that it
// can reclaim them after expiry: paychan.Store has no listing of payer
// records.
type Journal struct {
	path string
	mu   sync.Mutex
}

// OpenJournal returns the journal of a state directory.
func OpenJournal(stateDir string) *Journal {
	return &Journal{path: filepath.Join(stateDir, "channels.json")}
}

// Entries returns the channels in the journal, in the order opened.
func (j *Journal) Entries() ([]JournalEntry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.read()
}

func (j *Journal) read() ([]JournalEntry, error) {
	b, err := os.ReadFile(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var js []journalJSON
	if err := json.Unmarshal(b, &js); err != nil {
		return nil, fmt.Errorf("channel journal %s: %w", j.path, err)
	}
	out := make([]JournalEntry, 0, len(js))
	for _, e := range js {
		raw, err := hex.DecodeString(e.ID)
		if err != nil || len(raw) != len(paychan.ChannelID{}) {
			return nil, fmt.Errorf("channel journal %s: bad channel id %q", j.path, e.ID)
		}
		var id paychan.ChannelID
		copy(id[:], raw)
		out = append(out, JournalEntry{ID: id, Payee: e.Payee, Deposit: e.Deposit, Expiry: e.Expiry})
	}
	return out, nil
}

// Record adds or updates a channel.
func (j *Journal) Record(ch paychan.Channel) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	es, err := j.read()
	if err != nil {
		return err
	}
	e := JournalEntry{ID: ch.ID, Payee: ch.Payee, Deposit: ch.Deposit, Expiry: ch.Expiry}
	found := false
	for i := range es {
		if es[i].ID == ch.ID {
			es[i], found = e, true
		}
	}
	if !found {
		es = append(es, e)
	}
	js := make([]journalJSON, len(es))
	for i, e := range es {
		js[i] = journalJSON{ID: hex.EncodeToString(e.ID[:]), Payee: e.Payee, Deposit: e.Deposit, Expiry: e.Expiry.UTC()}
	}
	b, err := json.MarshalIndent(js, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(j.path, append(b, '\n'))
}

// journalEscrow records in the journal every channel opened or topped up
// through it.
type journalEscrow struct {
	paychan.Escrow
	j   *Journal
	log *slog.Logger
}

func (e journalEscrow) Open(ctx context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time) (paychan.Channel, error) {
	ch, err := e.Escrow.Open(ctx, payee, deposit, expiry)
	if err == nil {
		e.record("channel opened", ch)
	}
	return ch, err
}

func (e journalEscrow) TopUp(ctx context.Context, id paychan.ChannelID, amount btt.Amount, expiry time.Time) (paychan.Channel, error) {
	ch, err := e.Escrow.TopUp(ctx, id, amount, expiry)
	if err == nil {
		e.record("channel topped up", ch)
	}
	return ch, err
}

func (e journalEscrow) record(what string, ch paychan.Channel) {
	if err := e.j.Record(ch); err != nil {
		// The channel is open on chain; only reclaiming it by hand
		// needs its id, which the log keeps.
		e.log.Error("recording the channel in the journal failed: note its id to reclaim it", "channel", hex.EncodeToString(ch.ID[:]), "err", err)
		return
	}
	e.log.Info(what, "channel", hex.EncodeToString(ch.ID[:]), "payee", ch.Payee, "deposit_btt", ch.Deposit.FormatBTT(), "expiry", ch.Expiry.UTC().Format(time.RFC3339))
}
