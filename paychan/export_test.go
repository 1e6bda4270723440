package paychan

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bttspeed/bttspeed/btt"
)

// PutLegacyPaid records piece of torrent ih as paid through channel id the
// way earlier versions did: a key per piece.
func PutLegacyPaid(s *Store, ih [20]byte, piece int, id ChannelID) error {
	key := binary.BigEndian.AppendUint32(append([]byte(nil), ih[:]...), uint32(piece))
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPaid).Put(key, id[:]) })
}

// PutLegacySold records piece of torrent ih as sold through channel id the
// way earlier versions did.
func PutLegacySold(s *Store, id ChannelID, ih [20]byte, piece int) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSold).Put(soldKey(id, ih, piece), nil) })
}

// PutPaidBitmap writes a raw bitmap value into the payer's piece lists:
// what a corrupt store holds.
func PutPaidBitmap(s *Store, ih [20]byte, id ChannelID, chunk uint32, bm []byte) error {
	key := binary.BigEndian.AppendUint32(append(append([]byte(nil), ih[:]...), id[:]...), chunk)
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPaidSet).Put(key, bm) })
}

// PutSoldBitmap writes a raw bitmap value into the payee's piece lists.
func PutSoldBitmap(s *Store, id ChannelID, ih [20]byte, chunk uint32, bm []byte) error {
	key := binary.BigEndian.AppendUint32(soldPrefix(id, ih), chunk)
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSoldSet).Put(key, bm) })
}

// RedeemNow is the payee's pure decision to redeem a channel now, and by
// close, for a margin and a threshold.
func RedeemNow(margin time.Duration, threshold, floor btt.Amount, r PayeeRecord, closing bool, now time.Time) (due, close bool) {
	return redeemPolicy{margin: margin, threshold: threshold, floor: floor}.redeemNow(r, closing, now)
}

// Followed is the payee's pure decision to follow a channel on chain.
func Followed(margin time.Duration, floor btt.Amount, ch Channel, owed btt.Amount, now time.Time) bool {
	return redeemPolicy{margin: margin, floor: floor}.followed(ch, owed, now)
}

// RetryWait is the Redeemer's backoff after a failure.
func RetryWait(last, every, left time.Duration) time.Duration { return retryWait(last, every, left) }
