package market

import (
	"log/slog"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// ImportJournal is importJournal for tests.
func ImportJournal(dir string, st *paychan.Store, account btt.Address) error {
	return importJournal(dir, st, account, slog.New(slog.DiscardHandler))
}
