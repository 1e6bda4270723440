package paychan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bttspeed/bttspeed/btt"
)

// Store keeps channel state and vouchers in bbolt, an embedded database
// whose every committed write is fsync'd: what a ledger reports as done is
// on disk, so a crash at any point loses nothing that was acknowledged.
type Store struct {
	db *bolt.DB
	// openMu makes the opens of every Payer on the store one at a time,
	// so that an open's intent is resolved before another open to the
	// same payee is decided.
	openMu sync.Mutex
}

var (
	bucketPayee = []byte("payee") // channel id → payeeRecord
	bucketPayer = []byte("payer") // channel id → payerRecord
	// bucketPaidSet holds the pieces a payer paid for, as bitmaps
	// (pieceset.go): info hash || channel id || chunk → bitmap.
	bucketPaidSet = []byte("payerpaidset")
	// bucketSoldSet holds the pieces a payee was paid for, as its
	// payers' vouchers listed them: channel id || info hash || chunk →
	// bitmap.
	bucketSoldSet = []byte("payeesoldset")
	// bucketPaid and bucketSold hold the same lists as earlier versions
	// wrote them, a key per piece: info hash || piece → channel id, and
	// channel id || info hash || piece → nothing. They are read, never
	// written (docs/DECISIONS.md).
	bucketPaid = []byte("payerpaid")
	bucketSold = []byte("payeepaid")
)

// OpenStore opens (creating) the store at path.
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("paychan: open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPayee, bucketPayer, bucketPaidSet, bucketSoldSet, bucketPaid, bucketSold} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("paychan: init store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// channelRecord is a Channel as stored (JSON, amounts as decimal strings).
type channelRecord struct {
	ID           string      `json:"id"`
	Payer        btt.Address `json:"payer,omitzero"`
	Payee        btt.Address `json:"payee,omitzero"`
	Token        btt.Address `json:"token,omitzero"`
	Deposit      btt.Amount  `json:"deposit"`
	Paid         btt.Amount  `json:"paid"`
	Expiry       time.Time   `json:"expiry"`
	State        uint8       `json:"state"`
	ChallengeEnd time.Time   `json:"challenge_end,omitzero"`
}

// PayeeRecord is what a payee stores for one channel.
type PayeeRecord struct {
	Channel Channel
	// Best is the best voucher accepted (Amount zero if none).
	Best SignedVoucher
	// Redeemed is what has been redeemed on chain.
	Redeemed btt.Amount
	// Listed is what the pieces recorded as paid through the channel
	// (Payee.ReceivePieces) cost, at the prices they were claimed at:
	// never more than Best's amount.
	Listed btt.Amount
}

// PayerRecord is what a payer stores for one channel.
type PayerRecord struct {
	Channel Channel
	// Signed is the cumulative amount of the last voucher signed.
	Signed btt.Amount
}

type payeeJSON struct {
	Channel  channelRecord `json:"channel"`
	Best     []byte        `json:"best,omitempty"`
	Redeemed btt.Amount    `json:"redeemed"`
	Listed   btt.Amount    `json:"listed,omitzero"`
}

type payerJSON struct {
	Channel channelRecord `json:"channel"`
	Signed  btt.Amount    `json:"signed"`
}

func toRecord(c Channel) channelRecord {
	return channelRecord{ID: fmt.Sprintf("%x", c.ID[:]), Payer: c.Payer, Payee: c.Payee, Token: c.Token, Deposit: c.Deposit, Paid: c.Paid, Expiry: c.Expiry, State: uint8(c.State), ChallengeEnd: c.ChallengeEnd}
}

func fromRecord(r channelRecord, id ChannelID) (Channel, error) {
	if r.State > uint8(ChannelClosed) {
		return Channel{}, fmt.Errorf("%w: state %d", ErrMalformed, r.State)
	}
	if r.ID != fmt.Sprintf("%x", id[:]) {
		return Channel{}, fmt.Errorf("%w: record of channel %s stored under %x", ErrMalformed, r.ID, id[:])
	}
	return Channel{ID: id, Payer: r.Payer, Payee: r.Payee, Token: r.Token, Deposit: r.Deposit, Paid: r.Paid, Expiry: r.Expiry, State: ChannelState(r.State), ChallengeEnd: r.ChallengeEnd}, nil
}

// decodePayee decodes a stored payee record (a decoder of bytes from disk:
// strict, and fuzzed).
func decodePayee(id ChannelID, b []byte) (PayeeRecord, error) {
	var j payeeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return PayeeRecord{}, fmt.Errorf("%w: payee record: %v", ErrMalformed, err)
	}
	ch, err := fromRecord(j.Channel, id)
	if err != nil {
		return PayeeRecord{}, err
	}
	r := PayeeRecord{Channel: ch, Redeemed: j.Redeemed, Listed: j.Listed}
	if len(j.Best) > 0 {
		if err := r.Best.UnmarshalBinary(j.Best); err != nil {
			return PayeeRecord{}, err
		}
	}
	return r, nil
}

func encodePayee(r PayeeRecord) ([]byte, error) {
	j := payeeJSON{Channel: toRecord(r.Channel), Redeemed: r.Redeemed, Listed: r.Listed}
	if !r.Best.Amount.IsZero() {
		j.Best, _ = r.Best.MarshalBinary()
	}
	return json.Marshal(j)
}

func decodePayer(id ChannelID, b []byte) (PayerRecord, error) {
	var j payerJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return PayerRecord{}, fmt.Errorf("%w: payer record: %v", ErrMalformed, err)
	}
	ch, err := fromRecord(j.Channel, id)
	if err != nil {
		return PayerRecord{}, err
	}
	return PayerRecord{Channel: ch, Signed: j.Signed}, nil
}

// ErrNotFound reports a record the store does not have.
var ErrNotFound = errors.New("paychan: not in the store")

// Payee returns the payee record of a channel.
func (s *Store) Payee(id ChannelID) (PayeeRecord, error) {
	var r PayeeRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPayee).Get(id[:])
		if b == nil {
			return ErrNotFound
		}
		var err error
		r, err = decodePayee(id, b)
		return err
	})
	return r, err
}

// Payees returns every payee record.
func (s *Store) Payees() ([]PayeeRecord, error) {
	var out []PayeeRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPayee).ForEach(func(k, v []byte) error {
			if len(k) != 32 {
				return fmt.Errorf("%w: key of %d bytes", ErrMalformed, len(k))
			}
			r, err := decodePayee(ChannelID(k), v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// updatePayee runs f on a channel's payee record (zero if absent) and
// stores the result, in one durable transaction.
func (s *Store) updatePayee(id ChannelID, f func(tx *bolt.Tx, r *PayeeRecord, found bool) error) (PayeeRecord, error) {
	var out PayeeRecord
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketPayee)
		var r PayeeRecord
		found := false
		if b := bk.Get(id[:]); b != nil {
			var err error
			if r, err = decodePayee(id, b); err != nil {
				return err
			}
			found = true
		}
		if err := f(tx, &r, found); err != nil {
			return err
		}
		enc, err := encodePayee(r)
		if err != nil {
			return err
		}
		out = r
		return bk.Put(id[:], enc)
	})
	return out, err
}

// setPayeeChannel records the chain's view of a payee's channel, merged
// with the stored one (laterChain), if the store has a record of it: a
// channel accepted with no voucher yet has none, and needs none.
func (s *Store) setPayeeChannel(ch Channel) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketPayee)
		b := bk.Get(ch.ID[:])
		if b == nil {
			return nil
		}
		r, err := decodePayee(ch.ID, b)
		if err != nil {
			return err
		}
		r.Channel = laterChain(r.Channel, ch)
		enc, err := encodePayee(r)
		if err != nil {
			return err
		}
		return bk.Put(ch.ID[:], enc)
	})
}

// Payers returns every payer record, in channel order.
func (s *Store) Payers() ([]PayerRecord, error) {
	var out []PayerRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPayer).ForEach(func(k, v []byte) error {
			if len(k) != 32 {
				return fmt.Errorf("%w: key of %d bytes", ErrMalformed, len(k))
			}
			r, err := decodePayer(ChannelID(k), v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// PaidPieces returns the pieces of torrent ih paid for, and the channel
// each was paid through.
func (s *Store) PaidPieces(ih [20]byte) (map[int]ChannelID, error) {
	out := make(map[int]ChannelID)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPaid).Cursor()
		for k, v := c.Seek(ih[:]); k != nil && bytes.HasPrefix(k, ih[:]); k, v = c.Next() {
			if len(k) != 24 || len(v) != 32 {
				return fmt.Errorf("%w: paid entry of %d/%d bytes", ErrMalformed, len(k), len(v))
			}
			out[int(binary.BigEndian.Uint32(k[20:]))] = ChannelID(v)
		}
		return scanPieceSets(tx.Bucket(bucketPaidSet), ih[:], len(ChannelID{}), func(i int, id []byte) {
			out[i] = ChannelID(id)
		})
	})
	return out, err
}

// soldKey is a key of bucketSold.
func soldKey(id ChannelID, ih [20]byte, pieceIndex int) []byte {
	k := make([]byte, 0, 56)
	k = append(append(k, id[:]...), ih[:]...)
	return binary.BigEndian.AppendUint32(k, uint32(pieceIndex))
}

// soldPrefix is the key prefix of channel id's list of torrent ih in
// bucketSoldSet.
func soldPrefix(id ChannelID, ih [20]byte) []byte {
	return append(append(make([]byte, 0, 56), id[:]...), ih[:]...)
}

// SoldPieces returns the pieces of torrent ih recorded as paid for
// through channel id (Payee.ReceivePieces), in increasing order.
func (s *Store) SoldPieces(id ChannelID, ih [20]byte) ([]int, error) {
	var out []int
	prefix := soldPrefix(id, ih)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSold).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(k) != 56 {
				return fmt.Errorf("%w: sold entry of %d bytes", ErrMalformed, len(k))
			}
			out = append(out, int(binary.BigEndian.Uint32(k[52:])))
		}
		return scanPieceSets(tx.Bucket(bucketSoldSet), prefix, 0, func(i int, _ []byte) { out = append(out, i) })
	})
	slices.Sort(out)
	return slices.Compact(out), err
}

// Payer returns the payer record of a channel.
func (s *Store) Payer(id ChannelID) (PayerRecord, error) {
	var r PayerRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPayer).Get(id[:])
		if b == nil {
			return ErrNotFound
		}
		var err error
		r, err = decodePayer(id, b)
		return err
	})
	return r, err
}

func putPayer(tx *bolt.Tx, r PayerRecord) error {
	enc, err := json.Marshal(payerJSON{Channel: toRecord(r.Channel), Signed: r.Signed})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketPayer).Put(r.Channel.ID[:], enc)
}

// SavePayer stores a payer record, replacing any record of its channel
// whole: it is for a new channel. To record what the chain says of a
// channel without touching what was signed on it, use SetPayerChannel.
func (s *Store) SavePayer(r PayerRecord) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putPayer(tx, r) })
}

// SetPayerChannel records the chain's view of a payer's channel (after a
// top-up or a reclaim) in one transaction, keeping the amount signed on it:
// a payment reserved meanwhile is never lost. A read older than the one
// stored never moves the record back (see laterChain).
func (s *Store) SetPayerChannel(ch Channel) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPayer).Get(ch.ID[:])
		if b == nil {
			return fmt.Errorf("%w: payer channel %x", ErrNotFound, ch.ID[:8])
		}
		r, err := decodePayer(ch.ID, b)
		if err != nil {
			return err
		}
		r.Channel = laterChain(r.Channel, ch)
		return putPayer(tx, r)
	})
}

// laterChain merges two reads of one channel's chain state. On chain a
// channel only moves forward — its deposit and what was redeemed grow, its
// expiry is only ever extended, its state only advances — so of two reads
// the later has the greater of each. Merging makes the store's view
// independent of the order in which concurrent calls (two top-ups, a
// top-up and a Resume) come back: an older read stored last cannot undo a
// top-up, which would make the payer refuse to sign what it has deposited
// for.
func laterChain(old, cur Channel) Channel {
	if old.Deposit.Gt(cur.Deposit) {
		cur.Deposit = old.Deposit
	}
	if old.Paid.Gt(cur.Paid) {
		cur.Paid = old.Paid
	}
	if old.Expiry.After(cur.Expiry) {
		cur.Expiry = old.Expiry
	}
	if old.State > cur.State {
		cur.State, cur.ChallengeEnd = old.State, old.ChallengeEnd
	}
	return cur
}

// reservePayment records, in one durable transaction, that piece of the
// torrent ih is paid with amount more on channel id, unless it already is
// or the deposit cannot cover it; it returns the new cumulative amount to
// sign.
func (s *Store) reservePayment(id ChannelID, ih [20]byte, pieceIndex uint32, amount btt.Amount) (btt.Amount, error) {
	return s.reservePayments(id, ih, []PiecePayment{{Piece: int(pieceIndex), Amount: amount}})
}

// PiecePayment is what one verified piece costs.
type PiecePayment struct {
	Piece  int
	Amount btt.Amount
}

// reservePayments is reservePayment for several pieces in one transaction
// (one fsync); if any piece is already paid, none is. A piece listed twice
// is paid for once.
func (s *Store) reservePayments(id ChannelID, ih [20]byte, pays []PiecePayment) (btt.Amount, error) {
	var cum btt.Amount
	err := s.db.Update(func(tx *bolt.Tx) error {
		legacy := tx.Bucket(bucketPaid)
		sets, own, err := paidSets(tx.Bucket(bucketPaidSet), ih, id)
		if err != nil {
			return err
		}
		var amount btt.Amount
		seen := make(map[int]bool, len(pays))
		for _, p := range pays {
			if p.Piece < 0 || p.Piece > maxPiece {
				return fmt.Errorf("paychan: piece %d", p.Piece)
			}
			if seen[p.Piece] {
				continue
			}
			seen[p.Piece] = true
			if legacy.Get(binary.BigEndian.AppendUint32(append([]byte(nil), ih[:]...), uint32(p.Piece))) != nil {
				return fmt.Errorf("%w: piece %d", ErrAlreadyPaid, p.Piece)
			}
			for _, set := range sets {
				paid, err := set.has(p.Piece)
				if err != nil {
					return err
				}
				if paid {
					return fmt.Errorf("%w: piece %d", ErrAlreadyPaid, p.Piece)
				}
			}
			if err := own.add(p.Piece); err != nil {
				return err
			}
			if amount, err = amount.Add(p.Amount); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketPayer).Get(id[:])
		if b == nil {
			return fmt.Errorf("%w: %x", ErrUnknownChannel, id[:8])
		}
		r, err := decodePayer(id, b)
		if err != nil {
			return err
		}
		next, err := r.Signed.Add(amount)
		if err != nil {
			return err
		}
		if next.Gt(r.Channel.Deposit) {
			return &InsufficientFundsError{Shortfall: next.SubFloor(r.Channel.Deposit)}
		}
		r.Signed = next
		if err := putPayer(tx, r); err != nil {
			return err
		}
		cum = next
		return own.flush()
	})
	return cum, err
}

// paidSets returns the payer's lists of torrent ih, one per channel that
// paid for any of its pieces, own (channel id's) among them.
func paidSets(b *bolt.Bucket, ih [20]byte, id ChannelID) (sets []*pieceSet, own *pieceSet, err error) {
	prefix := func(ch []byte) []byte { return append(append(make([]byte, 0, 52), ih[:]...), ch...) }
	own = newPieceSet(b, prefix(id[:]))
	sets = []*pieceSet{own}
	c := b.Cursor()
	for k, _ := c.Seek(ih[:]); k != nil && bytes.HasPrefix(k, ih[:]); k, _ = c.Next() {
		if len(k) != 56 {
			return nil, nil, fmt.Errorf("%w: piece bitmap key of %d bytes", ErrMalformed, len(k))
		}
		if ch := k[20:52]; !bytes.Equal(ch, id[:]) && !bytes.Equal(ch, sets[len(sets)-1].prefix[20:]) {
			sets = append(sets, newPieceSet(b, prefix(ch)))
		}
	}
	return sets, own, nil
}
