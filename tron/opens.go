package tron

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// maxOpenRecords bounds the signed opens an Escrow remembers.
const maxOpenRecords = 16

// openRecord is an open this escrow signed: its transaction and call.
// Kept (in the journal, with one) after the open settles, so that
// FindOpen finds its channel by the transaction's receipt even when the
// nonce scan cannot — a node that lied about the nonce, or reads behind
// the block that holds it.
type openRecord struct {
	Tx   TxID   `json:"tx"`
	Data []byte `json:"data"`
}

func (e *Escrow) opensKey() string { return e.journalKey() + "/opens" }

// isOpen reports whether data is a call of the escrow's open.
func (e *Escrow) isOpen(to btt.Address, data []byte) bool {
	return to == e.addr && len(data) >= 4 && bytes.Equal(data[:4], e.abi.Methods["open"].ID)
}

// recordOpen remembers a signed open, before it is sent.
func (e *Escrow) recordOpen(tx *Tx, data []byte) error {
	recs, err := e.openRecords()
	if err != nil {
		return err
	}
	recs = append(recs, openRecord{Tx: tx.ID, Data: bytes.Clone(data)})
	if len(recs) > maxOpenRecords {
		recs = recs[len(recs)-maxOpenRecords:]
	}
	e.mu.Lock()
	j := e.journal
	e.opens = recs
	e.mu.Unlock()
	if j == nil {
		return nil
	}
	b, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	return j.SetPendingTx(e.opensKey(), b)
}

// openRecords returns the signed opens remembered, oldest first: the
// journal's, or with none, this process's.
func (e *Escrow) openRecords() ([]openRecord, error) {
	e.mu.Lock()
	j, mem := e.journal, e.opens
	e.mu.Unlock()
	if j == nil {
		return append([]openRecord(nil), mem...), nil
	}
	b, err := j.PendingTx(e.opensKey())
	if err != nil || b == nil {
		return nil, err
	}
	if len(b) > maxPendingBytes {
		return nil, fmt.Errorf("%w: open records of %d bytes", ErrBadResponse, len(b))
	}
	var recs []openRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("tron: open records: %w", err)
	}
	return recs, nil
}

// findRecorded looks for the channel of a signed open with exactly data,
// newest first, by its transaction's receipt.
func (e *Escrow) findRecorded(ctx context.Context, data []byte, known func(paychan.ChannelID) bool) (paychan.Channel, bool, error) {
	recs, err := e.openRecords()
	if err != nil {
		return paychan.Channel{}, false, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if !bytes.Equal(recs[i].Data, data) {
			continue
		}
		r, err := e.c.lookup(ctx, recs[i].Tx)
		if r == nil && err == nil {
			continue // not in a block
		}
		if err != nil {
			if r != nil {
				continue // in a block, and failed: it opened nothing
			}
			return paychan.Channel{}, false, fmt.Errorf("tron: find open: receipt of %s: %w", recs[i].Tx, err)
		}
		opened, err := e.opened(r)
		if err != nil {
			return paychan.Channel{}, false, fmt.Errorf("tron: find open: %s: %w", recs[i].Tx, err)
		}
		if known != nil && known(opened.ID) {
			continue
		}
		ch, err := e.Channel(ctx, opened.ID)
		if err != nil {
			return paychan.Channel{}, false, fmt.Errorf("tron: find open: %w", err)
		}
		return ch, true, nil
	}
	return paychan.Channel{}, false, nil
}
