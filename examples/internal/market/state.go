// Package market builds the paying parts of the example commands over a
// chain.Chain: the seeder's Seller (a payee store, the btt_speed seller,
// choker.BidDriven at the reserve price, scheduled and shutdown
// redemption) and the leecher's Buyer (a payer store, a bid strategy, a
// budget, the payer store of the channels it opened, and reclaiming them after
// expiry).
//
// A state directory holds, for one account on one escrow:
//
//	state.json     chain id, escrow and account the directory belongs to
//	payee.db       the seeder's channels and best vouchers (bbolt)
//	payer.db       the leecher's channels and payments (bbolt)
//	(channels.json of earlier versions is taken into payer.db at start)
package market

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/paychan"
)

// stateFile binds a state directory to its chain, escrow and account.
type stateFile struct {
	ChainID uint64      `json:"chain_id"`
	Escrow  btt.Address `json:"escrow"`
	Account btt.Address `json:"account"`
}

// OpenState prepares dir for account on domain: it creates it (0700), or
// checks that it was made for the same chain, escrow and account — vouchers
// of one escrow mean nothing on another, and a payee's store belongs to its
// address.
func OpenState(dir string, dom paychan.Domain, account btt.Address) error {
	if dir == "" {
		return cli.Setupf("no state directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cli.Setupf("state directory: %w", err)
	}
	want := stateFile{ChainID: dom.ChainID, Escrow: dom.Escrow, Account: account}
	path := filepath.Join(dir, "state.json")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			return cli.Setup(err)
		}
		if err := writeFileAtomic(path, append(b, '\n')); err != nil {
			return cli.Setupf("state directory: %w", err)
		}
		return nil
	case err != nil:
		return cli.Setupf("state directory: %w", err)
	}
	var got stateFile
	if err := json.Unmarshal(b, &got); err != nil {
		return cli.Setupf("state directory %s: %s is not ours (%v): give another -state", dir, path, err)
	}
	if got != want {
		return cli.Setupf("state directory %s belongs to account %s on chain %#x, escrow %s, not to account %s on chain %#x, escrow %s: give another -state (its vouchers are only good there)",
			dir, got.Account, got.ChainID, got.Escrow, want.Account, want.ChainID, want.Escrow)
	}
	return nil
}

// openStore opens a bbolt store in the state directory.
func openStore(dir, name string) (*paychan.Store, error) {
	st, err := paychan.OpenStore(filepath.Join(dir, name))
	if err != nil {
		if strings.Contains(err.Error(), "timeout") {
			return nil, cli.Setupf("%w (is another process using -state %s?)", err, dir)
		}
		return nil, cli.Setup(err)
	}
	return st, nil
}

// writeFileAtomic writes b to path through a synced temporary file and a
// rename, so a crash leaves the old or the new content.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
