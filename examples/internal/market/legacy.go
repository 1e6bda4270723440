package market

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// legacyJournalJSON is an entry of the channels.json that state
// directories of earlier versions kept beside payer.db: a channel (with
// its id) or an open whose outcome was unknown (no id, from_nonce set).
type legacyJournalJSON struct {
	ID        string      `json:"id,omitempty"`
	Payee     btt.Address `json:"payee"`
	Deposit   btt.Amount  `json:"deposit"`
	Expiry    time.Time   `json:"expiry"`
	FromNonce uint64      `json:"from_nonce,omitempty"`
	At        time.Time   `json:"at,omitzero"`
}

// importJournal moves an earlier version's channels.json into the payer
// store — channels the store lacks (a run died between the open and its
// record: nothing was signed on them) and unresolved opens as intents —
// and renames it channels.json.imported. A journal that does not read is
// an error: its channels would otherwise be forgotten.
func importJournal(stateDir string, st *paychan.Store, account btt.Address, log *slog.Logger) error {
	path := filepath.Join(stateDir, "channels.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("channel journal of an earlier version: %w", err)
	}
	var js []legacyJournalJSON
	if err := json.Unmarshal(b, &js); err != nil {
		return fmt.Errorf("channel journal of an earlier version %s: %w (move it away once its channels are reclaimed)", path, err)
	}
	for _, e := range js {
		if e.ID == "" {
			if e.FromNonce == 0 {
				return fmt.Errorf("channel journal %s: an entry with neither id nor nonce", path)
			}
			if _, err := st.AddIntent(paychan.Intent{Payee: e.Payee, Deposit: e.Deposit, Expiry: e.Expiry, Mark: e.FromNonce, At: e.At}); err != nil {
				return err
			}
			continue
		}
		raw, err := hex.DecodeString(e.ID)
		if err != nil || len(raw) != len(paychan.ChannelID{}) {
			return fmt.Errorf("channel journal %s: bad channel id %q", path, e.ID)
		}
		id := paychan.ChannelID(raw)
		if _, err := st.Payer(id); err == nil {
			continue
		} else if !errors.Is(err, paychan.ErrNotFound) {
			return err
		}
		ch := paychan.Channel{ID: id, Payer: account, Payee: e.Payee, Deposit: e.Deposit, Expiry: e.Expiry, State: paychan.ChannelOpen}
		if err := st.SavePayer(paychan.PayerRecord{Channel: ch}); err != nil {
			return err
		}
	}
	if err := os.Rename(path, path+".imported"); err != nil {
		return fmt.Errorf("channel journal: %w", err)
	}
	log.Info("the channels of an earlier version's channels.json are in the payer store now", "entries", len(js))
	return nil
}
