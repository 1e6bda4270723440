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
	"slices"
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
	// An earlier run may have died while opening a channel: find it.
	if _, err := ResolveIntents(ctx, c, j, cfg.Logger); err != nil {
		cfg.Logger.Warn("looking for the channels an earlier run was opening when it stopped (leecher reclaim looks again)", "err", err)
	}
	esc := journalEscrow{Escrow: c.Escrow, j: j, log: cfg.Logger, nonce: func(ctx context.Context) (uint64, error) { return escrowNonce(ctx, c) }}
	payer, err := paychan.NewPayer(ctx, st, esc, c.Signer)
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
// signed on each (the payer store's view; nothing on a channel the store
// never recorded, opened by a run that died before it could).
func (b *Buyer) Channels() ([]ChannelSpend, error) {
	es, err := b.Journal.Entries()
	if err != nil {
		return nil, err
	}
	out := make([]ChannelSpend, 0, len(es))
	for _, e := range es {
		r, err := b.Store.Payer(e.ID)
		if errors.Is(err, paychan.ErrNotFound) {
			// Opened, and the process died before the payer's store
			// recorded it: nothing was signed on it.
			out = append(out, ChannelSpend{Channel: paychan.Channel{ID: e.ID, Payee: e.Payee, Deposit: e.Deposit, Expiry: e.Expiry, State: paychan.ChannelOpen}})
			continue
		}
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

// Intent is a channel the leecher is about to open, journaled before the
// transaction is sent: a crash after the open is mined and before its
// record (Journal.Resolve) would otherwise leave a deposit on chain that
// nothing in the state directory names. ResolveIntents finds the channel
// from it.
type Intent struct {
	Payee   btt.Address
	Deposit btt.Amount
	Expiry  time.Time
	// FromNonce is the escrow's next channel nonce when the intent was
	// written: the channel, if opened, has this nonce or a later one.
	FromNonce uint64
	// At is when the intent was written.
	At time.Time
}

// matches reports whether two intents are the same one.
func (in Intent) matches(o Intent) bool {
	return in.Payee == o.Payee && in.Deposit == o.Deposit && in.Expiry.Equal(o.Expiry) && in.FromNonce == o.FromNonce && in.At.Equal(o.At)
}

// journalJSON is an entry of channels.json: a channel (with its id) or an
// intent (no id, from_nonce set).
type journalJSON struct {
	ID        string      `json:"id,omitempty"`
	Payee     btt.Address `json:"payee"`
	Deposit   btt.Amount  `json:"deposit"`
	Expiry    time.Time   `json:"expiry"`
	FromNonce uint64      `json:"from_nonce,omitempty"`
	At        time.Time   `json:"at,omitzero"`
}

// Journal lists the channels a leecher opened (channels.json), so that it
// can reclaim them after expiry: paychan.Store has no listing of payer
// records. It also holds the intents of opens whose outcome is not
// recorded yet.
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
	es, _, err := j.read()
	return es, err
}

// Intents returns the opens whose outcome is not recorded yet.
func (j *Journal) Intents() ([]Intent, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ins, err := j.read()
	return ins, err
}

func (j *Journal) read() ([]JournalEntry, []Intent, error) {
	b, err := os.ReadFile(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var js []journalJSON
	if err := json.Unmarshal(b, &js); err != nil {
		return nil, nil, fmt.Errorf("channel journal %s: %w", j.path, err)
	}
	out := make([]JournalEntry, 0, len(js))
	var ins []Intent
	for _, e := range js {
		if e.ID == "" && e.FromNonce > 0 {
			ins = append(ins, Intent{Payee: e.Payee, Deposit: e.Deposit, Expiry: e.Expiry, FromNonce: e.FromNonce, At: e.At})
			continue
		}
		raw, err := hex.DecodeString(e.ID)
		if err != nil || len(raw) != len(paychan.ChannelID{}) {
			return nil, nil, fmt.Errorf("channel journal %s: bad channel id %q", j.path, e.ID)
		}
		var id paychan.ChannelID
		copy(id[:], raw)
		out = append(out, JournalEntry{ID: id, Payee: e.Payee, Deposit: e.Deposit, Expiry: e.Expiry})
	}
	return out, ins, nil
}

func (j *Journal) write(es []JournalEntry, ins []Intent) error {
	js := make([]journalJSON, 0, len(es)+len(ins))
	for _, e := range es {
		js = append(js, journalJSON{ID: hex.EncodeToString(e.ID[:]), Payee: e.Payee, Deposit: e.Deposit, Expiry: e.Expiry.UTC()})
	}
	for _, in := range ins {
		js = append(js, journalJSON{Payee: in.Payee, Deposit: in.Deposit, Expiry: in.Expiry.UTC(), FromNonce: in.FromNonce, At: in.At.UTC()})
	}
	b, err := json.MarshalIndent(js, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(j.path, append(b, '\n'))
}

// Record adds or updates a channel.
func (j *Journal) Record(ch paychan.Channel) error {
	return j.update(func(es []JournalEntry, ins []Intent) ([]JournalEntry, []Intent) {
		return recordEntry(es, ch), ins
	})
}

func recordEntry(es []JournalEntry, ch paychan.Channel) []JournalEntry {
	e := JournalEntry{ID: ch.ID, Payee: ch.Payee, Deposit: ch.Deposit, Expiry: ch.Expiry}
	for i := range es {
		if es[i].ID == ch.ID {
			es[i] = e
			return es
		}
	}
	return append(es, e)
}

// Intend journals an open about to be sent; its id must not be zero.
func (j *Journal) Intend(in Intent) error {
	if in.FromNonce == 0 {
		return errors.New("channel journal: an intent needs the escrow's next nonce")
	}
	return j.update(func(es []JournalEntry, ins []Intent) ([]JournalEntry, []Intent) {
		return es, append(ins, in)
	})
}

// Resolve replaces an intent with the channel it opened, in one write;
// with ch nil it drops the intent (the open never happened).
func (j *Journal) Resolve(in Intent, ch *paychan.Channel) error {
	return j.update(func(es []JournalEntry, ins []Intent) ([]JournalEntry, []Intent) {
		ins = slices.DeleteFunc(ins, in.matches)
		if ch != nil {
			es = recordEntry(es, *ch)
		}
		return es, ins
	})
}

func (j *Journal) update(f func([]JournalEntry, []Intent) ([]JournalEntry, []Intent)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	es, ins, err := j.read()
	if err != nil {
		return err
	}
	es, ins = f(es, ins)
	return j.write(es, ins)
}

// journalEscrow records in the journal every channel opened or topped up
// through it; an open is journaled as an intent before it is sent.
type journalEscrow struct {
	paychan.Escrow
	j     *Journal
	log   *slog.Logger
	nonce func(context.Context) (uint64, error)
}

func (e journalEscrow) Open(ctx context.Context, payee btt.Address, deposit btt.Amount, expiry time.Time) (paychan.Channel, error) {
	n, err := e.nonce(ctx)
	if err != nil {
		return paychan.Channel{}, fmt.Errorf("reading the escrow's channel nonce before opening: %w", err)
	}
	in := Intent{Payee: payee, Deposit: deposit, Expiry: expiry, FromNonce: n + 1, At: time.Now()}
	if err := e.j.Intend(in); err != nil {
		return paychan.Channel{}, fmt.Errorf("channel journal: not opening a channel it could not track: %w", err)
	}
	ch, err := e.Escrow.Open(ctx, payee, deposit, expiry)
	if err != nil {
		// The open may still be mined: the intent stays, for the next
		// start or reclaim to look for it.
		return ch, err
	}
	if err := e.j.Resolve(in, &ch); err != nil {
		e.log.Error("recording the channel in the journal failed: note its id to reclaim it", "channel", hex.EncodeToString(ch.ID[:]), "err", err)
		return ch, nil
	}
	e.log.Info("channel opened", "channel", hex.EncodeToString(ch.ID[:]), "payee", ch.Payee, "deposit_btt", ch.Deposit.FormatBTT(), "expiry", ch.Expiry.UTC().Format(time.RFC3339))
	return ch, nil
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
