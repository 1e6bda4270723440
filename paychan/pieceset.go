package paychan

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Piece lists are stored as bitmaps, one bbolt value per chunk of
// chunkPieces pieces: a voucher that pays for a few hundred pieces
// rewrites a value or two, where a key per piece put a few hundred keys
// into the B+tree on each side, inside each side's durable commit: about
// 1% of a loopback transfer's throughput (docs/DECISIONS.md).
// Stores written by earlier versions keep their key-per-piece entries
// (bucketPaid, bucketSold), which are read as before and never written.
const chunkPieces = 8192 // a chunk's bitmap is at most 1 KiB

// maxPiece is the largest piece index a list holds (a BEP 3 index is a
// 32-bit integer).
const maxPiece = 1<<31 - 1

// chunkOf returns the chunk of piece i and its bit in the chunk's bitmap.
func chunkOf(i int) (chunk uint32, bit int) {
	return uint32(i / chunkPieces), i % chunkPieces
}

// pieceSet is the bitmaps of some chunks of one list, as read from and
// written back to a bucket within one transaction.
type pieceSet struct {
	b      *bolt.Bucket
	prefix []byte            // the list's key prefix; a key is prefix || chunk
	chunks map[uint32][]byte // the chunks read, as copies
	dirty  map[uint32]bool
}

func newPieceSet(b *bolt.Bucket, prefix []byte) *pieceSet {
	return &pieceSet{b: b, prefix: prefix, chunks: make(map[uint32][]byte), dirty: make(map[uint32]bool)}
}

func (s *pieceSet) key(chunk uint32) []byte {
	return binary.BigEndian.AppendUint32(slices.Clip(s.prefix), chunk)
}

// bitmap returns chunk's bitmap, read once per transaction.
func (s *pieceSet) bitmap(chunk uint32) ([]byte, error) {
	if bm, ok := s.chunks[chunk]; ok {
		return bm, nil
	}
	v := s.b.Get(s.key(chunk))
	if len(v) > chunkPieces/8 {
		return nil, fmt.Errorf("%w: piece bitmap of %d bytes", ErrMalformed, len(v))
	}
	bm := bytes.Clone(v) // bbolt's value is valid only in the transaction, and read-only
	s.chunks[chunk] = bm
	return bm, nil
}

// has reports whether piece i is in the set.
func (s *pieceSet) has(i int) (bool, error) {
	chunk, bit := chunkOf(i)
	bm, err := s.bitmap(chunk)
	if err != nil {
		return false, err
	}
	return bit/8 < len(bm) && bm[bit/8]&(1<<(bit%8)) != 0, nil
}

// add adds piece i to the set; flush writes it.
func (s *pieceSet) add(i int) error {
	chunk, bit := chunkOf(i)
	bm, err := s.bitmap(chunk)
	if err != nil {
		return err
	}
	s.chunks[chunk] = setBit(bm, bit)
	s.dirty[chunk] = true
	return nil
}

// setBit sets bit i of bitmap bm, growing it as needed, and returns it.
func setBit(bm []byte, i int) []byte {
	if n := i/8 + 1; len(bm) < n {
		bm = append(bm, make([]byte, n-len(bm))...)
	}
	bm[i/8] |= 1 << (i % 8)
	return bm
}

// flush writes the chunks changed since they were read.
func (s *pieceSet) flush() error {
	for chunk := range s.dirty {
		if err := s.b.Put(s.key(chunk), s.chunks[chunk]); err != nil {
			return err
		}
		// bbolt keeps the value until the commit: read it again if
		// the set is used after, never write into it.
		delete(s.chunks, chunk)
	}
	clear(s.dirty)
	return nil
}

// eachPiece calls f with each piece of a chunk's bitmap, in increasing
// order.
func eachPiece(chunk uint32, bm []byte, f func(int)) {
	for j, w := range bm {
		for w != 0 {
			b := bits.TrailingZeros8(w)
			w &^= 1 << b
			f(int(chunk)*chunkPieces + j*8 + b)
		}
	}
}

// scanPieceSets calls f with each piece of every list stored in b under
// prefix, and the rest of its key between the prefix and the chunk (rest
// bytes long; the channel id of a payer's list).
func scanPieceSets(b *bolt.Bucket, prefix []byte, rest int, f func(piece int, mid []byte)) error {
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+4+rest || len(v) > chunkPieces/8 {
			return fmt.Errorf("%w: piece bitmap entry of %d/%d bytes", ErrMalformed, len(k), len(v))
		}
		mid := k[len(prefix) : len(prefix)+rest]
		chunk := binary.BigEndian.Uint32(k[len(prefix)+rest:])
		if chunk > maxPiece/chunkPieces {
			return fmt.Errorf("%w: piece bitmap of chunk %d", ErrMalformed, chunk)
		}
		eachPiece(chunk, v, func(i int) { f(i, mid) })
	}
	return nil
}
