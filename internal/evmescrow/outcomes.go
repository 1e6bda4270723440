package evmescrow

import (
	"bytes"

	"github.com/bttspeed/bttspeed/btt"
)

// MaxOutcomes bounds the settled outcomes an escrow keeps for calls that
// have not asked again.
const MaxOutcomes = 8

// Call is one call of a contract: To is nil for a deployment.
type Call struct {
	To   *btt.Address
	Data []byte
}

// Same reports whether c and o call the same contract with the same data.
func (c Call) Same(o Call) bool {
	if (c.To == nil) != (o.To == nil) || (c.To != nil && *c.To != *o.To) {
		return false
	}
	return bytes.Equal(c.Data, o.Data)
}

// Outcomes are the outcomes of calls whose transaction was settled while
// another call waited: the same call asked again gets its outcome instead
// of signing a second transaction. The last MaxOutcomes are kept. Not safe
// for concurrent use: the escrow's lock guards it.
type Outcomes[R any] struct {
	list []Outcome[R]
}

// Outcome is a settled call's receipt and error.
type Outcome[R any] struct {
	call Call
	R    R
	Err  error
}

// Remember keeps the outcome of call, dropping the oldest beyond
// MaxOutcomes.
func (o *Outcomes[R]) Remember(call Call, r R, err error) {
	o.list = append(o.list, Outcome[R]{call: call, R: r, Err: err})
	if len(o.list) > MaxOutcomes {
		o.list = o.list[len(o.list)-MaxOutcomes:]
	}
}

// Recall returns, and forgets, the oldest remembered outcome of call.
func (o *Outcomes[R]) Recall(call Call) (Outcome[R], bool) {
	for i, d := range o.list {
		if d.call.Same(call) {
			o.list = append(o.list[:i], o.list[i+1:]...)
			return d, true
		}
	}
	return Outcome[R]{}, false
}

// Has reports whether an outcome of call is remembered.
func (o *Outcomes[R]) Has(call Call) bool {
	for _, d := range o.list {
		if d.call.Same(call) {
			return true
		}
	}
	return false
}

// Journal is where a transaction in flight is kept across restarts
// (paychan.TxJournal's writing half).
type Journal interface {
	SetPendingTx(key string, tx []byte) error
}

// KeepPending makes p the transaction in flight: with a journal j, its
// record (encode) is written under key first — before it is sent — and
// only then does set make it the escrow's; a nil p clears both. A failed
// write leaves the escrow's as it was and returns the error.
func KeepPending[P any](j Journal, key string, p *P, encode func(*P) ([]byte, error), set func(*P)) error {
	if j != nil {
		var b []byte
		if p != nil {
			var err error
			if b, err = encode(p); err != nil {
				return err
			}
		}
		if err := j.SetPendingTx(key, b); err != nil {
			return err
		}
	}
	set(p)
	return nil
}
