package paychan

import (
	"context"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

// OpenFinder is what a Payer needs of an escrow besides Escrow: a way to
// find the channel of an Open whose outcome it never learnt — the node
// went away after the transaction was signed, or the process stopped
// before the answer was recorded. With it, such an Open costs neither a
// second deposit nor a deposit that nothing names (see Intent).
type OpenFinder interface {
	// OpenMark returns a mark to take just before an Open: the channel
	// that Open creates, if it creates one, is found by FindOpen from
	// this mark on. (On the BttSpeedEscrow contract, the nonce the next
	// channel will have.)
	OpenMark(ctx context.Context) (uint64, error)
	// FindOpen looks for a channel the caller's account opened to
	// in.Payee with in.Expiry, from in.Mark on, that known does not
	// report. Channels of other accounts are passed over, never an
	// error. ok is false if there is none so far.
	FindOpen(ctx context.Context, in Intent, known func(ChannelID) bool) (ch Channel, ok bool, err error)
	// InFlight reports whether a transaction the caller's account sent
	// may still be included in a block: its outcome is unknown to the
	// escrow — across restarts too. An escrow that cannot tell answers
	// true until it can. A Payer drops an intent only when FindOpen does
	// not find its channel and nothing is in flight.
	InFlight(ctx context.Context) (bool, error)
}

// TxJournal keeps, across restarts, a transaction an escrow signed and
// has not yet seen settled, under a key of the escrow's choosing. A
// *Store is one.
type TxJournal interface {
	// PendingTx returns what was kept under key, or nil.
	PendingTx(key string) ([]byte, error)
	// SetPendingTx keeps tx under key, durably before it returns; a nil
	// tx removes it.
	SetPendingTx(key string, tx []byte) error
}

// TxKeeper is an escrow that can keep its unsettled transaction in a
// TxJournal, so that after a restart it settles that transaction before
// signing anything else instead of signing a second one beside it.
// NewPayer hands it the payer's store.
type TxKeeper interface {
	KeepTxsIn(ctx context.Context, j TxJournal) error
}

// Intent is an Open recorded durably before it is sent: until it is
// resolved — into the channel it opened, found on chain, or dropped once
// it is not on chain and nothing the account sent is in flight — the
// payer neither forgets the deposit nor opens another channel to the same
// payee in its place (Payer.Open). No error of the escrow's decides it:
// an error may come after a transaction was mined.
type Intent struct {
	// Seq names the intent in the store.
	Seq     uint64
	Payee   btt.Address
	Deposit btt.Amount
	Expiry  time.Time
	// Mark is OpenFinder.OpenMark taken before the Open was sent.
	Mark uint64
	// At is when the intent was recorded.
	At time.Time
}
