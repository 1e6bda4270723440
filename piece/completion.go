package piece

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"go.etcd.io/bbolt"
)

// completionDelay is how long a verdict waits in memory for others to
// share its bbolt commit.
const completionDelay = 100 * time.Millisecond

// batchCompletion is the bbolt piece-completion store in anacrolix's
// format (the file .torrent.bolt.db; bucket "completion", a bucket per info
// hash, the piece index as 4 big-endian bytes, "c" or "i"), which commits
// the verdicts Set within completionDelay of each other in one transaction
// instead of one each: a commit per piece cost 7–10% of a leecher's CPU.
// Get answers from the verdicts not yet committed first. A crash loses at
// most the last completionDelay's verdicts: those pieces are fetched or
// hashed again, never taken as complete wrongly. Close commits the rest.
type batchCompletion struct {
	db *bbolt.DB

	mu       sync.Mutex
	pending  map[metainfo.PieceKey]bool
	timer    *time.Timer
	closed   bool
	flushing sync.WaitGroup
	err      error // the first failed commit's, returned by the next Set and Close
}

var _ storage.PieceCompletion = (*batchCompletion)(nil)

var completionBucket = []byte("completion")

// CompletionFile is the name of the piece-completion database in a
// completion directory (peer.Config.CompletionDir, or a torrent's own data
// directory): anacrolix's name, so that either client reads the other's.
const CompletionFile = ".torrent.bolt.db"

func openBatchCompletion(dir string) (*batchCompletion, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	db, err := bbolt.Open(filepath.Join(dir, CompletionFile), 0o660, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	db.NoSync = true
	return &batchCompletion{db: db, pending: make(map[metainfo.PieceKey]bool)}, nil
}

// Persistent is false so that anacrolix's storages do not fsync a piece's
// files when it is marked complete (see unflushedCompletion).
func (c *batchCompletion) Persistent() bool { return false }

func (c *batchCompletion) Get(pk metainfo.PieceKey) (storage.Completion, error) {
	c.mu.Lock()
	b, ok := c.pending[pk]
	c.mu.Unlock()
	if ok {
		return storage.Completion{Complete: b, Ok: true}, nil
	}
	var cn storage.Completion
	err := c.db.View(func(tx *bbolt.Tx) error {
		ih := bucket(tx, pk.InfoHash)
		if ih == nil {
			return nil
		}
		switch string(ih.Get(pieceKey(pk.Index))) {
		case "c":
			cn = storage.Completion{Complete: true, Ok: true}
		case "i":
			cn = storage.Completion{Ok: true}
		}
		return nil
	})
	return cn, err
}

func (c *batchCompletion) Set(pk metainfo.PieceKey, complete bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("piece: completion store closed")
	}
	if c.err != nil {
		return c.err
	}
	c.pending[pk] = complete
	if c.timer == nil {
		c.flushing.Add(1)
		c.timer = time.AfterFunc(completionDelay, func() {
			defer c.flushing.Done()
			c.flush()
		})
	}
	return nil
}

// flush commits the pending verdicts in one transaction.
func (c *batchCompletion) flush() {
	c.mu.Lock()
	batch := c.pending
	c.pending = make(map[metainfo.PieceKey]bool)
	c.timer = nil
	c.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := c.db.Update(func(tx *bbolt.Tx) error {
		cb, err := tx.CreateBucketIfNotExists(completionBucket)
		if err != nil {
			return err
		}
		for pk, complete := range batch {
			ih, err := cb.CreateBucketIfNotExists(pk.InfoHash[:])
			if err != nil {
				return err
			}
			v := "i"
			if complete {
				v = "c"
			}
			if err := ih.Put(pieceKey(pk.Index), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
}

// Close commits what is pending and closes the database.
func (c *batchCompletion) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.timer != nil && c.timer.Stop() {
		c.flushing.Done() // its func will never run
		c.timer = nil
	}
	c.mu.Unlock()
	c.flushing.Wait()
	c.flush()
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	return errors.Join(err, c.db.Close())
}

// dirKey is the key, in a torrent's bucket, of the absolute data
// directory its verdicts are about. Piece keys are 4 bytes: it is never
// one of them.
var dirKey = []byte("dir")

// bind ties the verdicts recorded for torrent ih to its data directory
// dir (absolute). A database shared through CompletionDir holds the
// verdicts of torrents in many directories, keyed by info hash: verdicts
// recorded for the same torrent in another directory are about data that
// is not in dir, so they are forgotten, and dir is recorded. A bucket
// with no directory (written before directories were recorded, always in
// a database of the data's own directory) is taken as dir's.
func (c *batchCompletion) bind(ih metainfo.Hash, dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("piece: completion store closed")
	}
	return c.db.Update(func(tx *bbolt.Tx) error {
		cb, err := tx.CreateBucketIfNotExists(completionBucket)
		if err != nil {
			return err
		}
		b := cb.Bucket(ih[:])
		if b != nil {
			old := b.Get(dirKey)
			if old == nil || string(old) == dir {
				if old == nil {
					return b.Put(dirKey, []byte(dir))
				}
				return nil
			}
			for pk := range c.pending {
				if pk.InfoHash == ih {
					delete(c.pending, pk)
				}
			}
			if err := cb.DeleteBucket(ih[:]); err != nil {
				return err
			}
		}
		if b, err = cb.CreateBucket(ih[:]); err != nil {
			return err
		}
		return b.Put(dirKey, []byte(dir))
	})
}

func bucket(tx *bbolt.Tx, ih metainfo.Hash) *bbolt.Bucket {
	cb := tx.Bucket(completionBucket)
	if cb == nil {
		return nil
	}
	return cb.Bucket(ih[:])
}

func pieceKey(i int) []byte {
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], uint32(i))
	return k[:]
}
