package paychan

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bttspeed/bttspeed/btt"
)

var (
	// bucketIntent holds the payer's opens not resolved yet: sequence
	// (8 bytes big-endian) → intentJSON. Created on first write.
	bucketIntent = []byte("payerintent")
	// bucketPendingTx holds an escrow's unsettled transaction: the
	// escrow's key → its bytes (TxJournal). Created on first write.
	bucketPendingTx = []byte("pendingtx")
)

// intentJSON is an Intent as stored.
type intentJSON struct {
	Payee   btt.Address `json:"payee"`
	Deposit btt.Amount  `json:"deposit"`
	Expiry  int64       `json:"expiry"`
	Mark    uint64      `json:"mark"`
	At      int64       `json:"at_ms"`
}

// AddIntent records an open about to be sent and returns it with its
// Seq set. It is durable when AddIntent returns.
func (s *Store) AddIntent(in Intent) (Intent, error) {
	if in.Payee.IsZero() || in.Deposit.IsZero() {
		return in, fmt.Errorf("paychan: intent: no payee or no deposit")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketIntent)
		if err != nil {
			return err
		}
		if in.Seq, err = b.NextSequence(); err != nil {
			return err
		}
		enc, err := json.Marshal(intentJSON{Payee: in.Payee, Deposit: in.Deposit, Expiry: in.Expiry.Unix(), Mark: in.Mark, At: in.At.UnixMilli()})
		if err != nil {
			return err
		}
		return b.Put(binary.BigEndian.AppendUint64(nil, in.Seq), enc)
	})
	if err != nil {
		return in, fmt.Errorf("paychan: record open intent: %w", err)
	}
	return in, nil
}

// Intents returns the opens not resolved yet, oldest first.
func (s *Store) Intents() ([]Intent, error) {
	var out []Intent
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIntent)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("corrupt intent key %x", k)
			}
			var j intentJSON
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("corrupt intent %x: %w", k, err)
			}
			out = append(out, Intent{Seq: binary.BigEndian.Uint64(k), Payee: j.Payee, Deposit: j.Deposit, Expiry: time.Unix(j.Expiry, 0).UTC(), Mark: j.Mark, At: time.UnixMilli(j.At).UTC()})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("paychan: read open intents: %w", err)
	}
	return out, nil
}

// ResolveIntent removes intent seq and, if ch is not nil, records the
// channel it opened (keeping what was signed on it if the store already
// has it), in one durable write.
func (s *Store) ResolveIntent(seq uint64, ch *Channel) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketIntent); b != nil {
			if err := b.Delete(binary.BigEndian.AppendUint64(nil, seq)); err != nil {
				return err
			}
		}
		if ch == nil {
			return nil
		}
		r := PayerRecord{Channel: *ch}
		if old := tx.Bucket(bucketPayer).Get(ch.ID[:]); old != nil {
			prev, err := decodePayer(ch.ID, old)
			if err != nil {
				return err
			}
			r = PayerRecord{Channel: laterChain(prev.Channel, *ch), Signed: prev.Signed}
		}
		return putPayer(tx, r)
	})
	if err != nil {
		return fmt.Errorf("paychan: resolve open intent %d: %w", seq, err)
	}
	return nil
}

// PendingTx implements TxJournal.
func (s *Store) PendingTx(key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketPendingTx); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	return out, err
}

// SetPendingTx implements TxJournal.
func (s *Store) SetPendingTx(key string, b []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketPendingTx)
		if err != nil {
			return err
		}
		if b == nil {
			return bk.Delete([]byte(key))
		}
		return bk.Put([]byte(key), b)
	})
	if err != nil {
		return fmt.Errorf("paychan: record pending transaction: %w", err)
	}
	return nil
}
