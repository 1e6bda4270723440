package peer

import (
	"context"
	"crypto/sha1"
	"fmt"
	"path/filepath"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/bttspeed/bttspeed/piece"
)

// openStorage opens the storage of info through its v1 layout
// (piece.V1View: a hybrid or v2 torrent's files with their padding).
func (t *Torrent) openStorage(info *metainfo.Info) (*piece.Storage, error) {
	info, err := piece.V1View(info)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTorrent, err)
	}
	if err := piece.CheckInfo(info); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTorrent, err)
	}
	dir, err := filepath.Abs(t.spec.Dir)
	if err != nil {
		return nil, fmt.Errorf("peer: data dir: %w", err)
	}
	st, err := piece.OpenStorage(piece.StorageConfig{
		Dir:           dir,
		Info:          info,
		InfoHash:      t.ih,
		Mmap:          t.spec.Mmap,
		CompletionDir: t.completionDir(dir),
	})
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	return st, nil
}

// start installs the info and storage (loop state; called before the loop
// runs, or from it).
func (t *Torrent) start(info *metainfo.Info, infoBytes []byte, st *piece.Storage) error {
	if !infoHashMatches(t.ih, infoBytes) {
		return fmt.Errorf("%w: info does not match the info hash", ErrBadTorrent)
	}
	view, err := piece.V1View(info)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadTorrent, err)
	}
	layout := piece.LayoutOf(view)
	pad := piece.PaddingOf(view)
	v2h, err := t.v2Hashes(info)
	if err != nil {
		return err
	}
	have, err := t.startHave(st, info, pad, v2h)
	if err != nil {
		return err
	}
	picker, err := piece.NewPicker(layout, have, piece.PickerConfig{
		Rand:           t.rng,
		RequestTimeout: t.cl.cfg.RequestTimeout,
		Padding:        pad,
	})
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	t.info, t.infoBytes, t.layout, t.picker = info, infoBytes, layout, picker
	t.st.Store(st)
	t.left.Store(picker.Left())
	t.disk = newDiskQueue(2, st, func(j diskJob, err error) {
		if err != nil && !j.verify {
			t.post(event{kind: evStorageErr, err: err})
			return
		}
		t.post(event{kind: evHashDone, piece: j.block.Piece, ok: j.ok, hashes: j.hashes, err: err})
	}, func() {
		// Never block a disk worker: a wake-up already pending will do.
		select {
		case t.diskWake <- struct{}{}:
		default:
		}
	}, &t.wg)
	t.disk.pad, t.disk.v2 = pad, v2h // before any push
	t.disk.served = t.servedHashes(info, v2h)
	if v2h != nil && !v2h.Complete() {
		t.disk.asked = newHashAsks()
	}
	t.initFiles() // before GotInfo, and before Prepare: file priorities decide what is prepared
	close(t.gotInfo)
	if picker.Complete() {
		close(t.done)
	} else {
		// Create and preallocate the files while the peers handshake,
		// not on the way of the first piece.
		t.wg.Go(func() {
			if err := st.Prepare(); err != nil {
				t.log.Debug("preparing files", "err", err) // the first write will say
			}
		})
	}
	// Peers that connected before we had the info.
	for _, c := range t.conns {
		picker.AddPeer(piece.PeerID(c.id), piece.NewBitfield(layout.NumPieces()))
		if c.ls.haveAll || c.ls.early != nil {
			if err := t.onBitfieldLate(c); err != nil {
				c.close(err)
				continue
			}
		}
		picker.Have().Each(func(i int) { c.send(msgIndex(pp.Have, i)) })
		t.askHashes(c)
	}
	return nil
}

// startHave returns the pieces st has, with those that are all padding
// (BEP 47) verified from zeros: nobody is asked for them. A torrent whose
// all-padding piece does not hash as zeros is refused: it could never
// complete. A pure v2 torrent (v2h set) added with Verify is verified here
// by its v2 hashes (the v1 pass AddTorrent makes cannot pass its pieces).
func (t *Torrent) startHave(st *piece.Storage, info *metainfo.Info, pad piece.Padding, v2h *piece.V2Hashes) (piece.Bitfield, error) {
	have := st.Completed()
	if v2h != nil && t.spec.Verify {
		var err error
		if have, err = st.VerifyAllV2(t.ctx, v2h); err != nil {
			return have, fmt.Errorf("peer: verify %s: %w", t.spec.Dir, err)
		}
	}
	if pad.Empty() {
		return have, nil
	}
	l := st.Layout()
	// The SHA-1 of a piece of zeros is one value per piece size: a v1
	// torrent's all-padding pieces are checked against it, computed once
	// (at most two sizes), so a hostile info's 20 bytes never cost a
	// piece's hashing each (before: 512 MiB of SHA-1 per 20 bytes).
	zeroSums := map[int64][20]byte{}
	v1 := v2h == nil && len(info.Pieces) == 20*l.NumPieces()
	for i := range l.NumPieces() {
		if have.Has(i) || !pad.PiecePadding(l, i) {
			continue
		}
		if err := t.ctx.Err(); err != nil {
			return have, err
		}
		verify := st.VerifyPiece
		switch {
		case v2h != nil:
			verify = func(i int) (bool, error) { return st.VerifyPieceV2(i, v2h) }
		case v1:
			verify = func(i int) (bool, error) {
				size := l.PieceSize(i)
				sum, ok := zeroSums[size]
				if !ok {
					var err error
					if sum, err = zeroSHA1(t.ctx, size); err != nil {
						return false, err
					}
					zeroSums[size] = sum
				}
				return string(sum[:]) == string(info.Pieces[20*i:20*i+20]), nil
			}
		}
		ok, err := verify(i) // reads zeros: no disk
		if err != nil {
			return have, fmt.Errorf("peer: %w", err)
		}
		if !ok {
			return have, fmt.Errorf("%w: piece %d is all padding but its hash is not of zeros", ErrBadTorrent, i)
		}
		have.Set(i)
	}
	return have, nil
}

// setInfo installs the info dictionary: storage opens, the picker starts,
// and peers learn what we have.
func (t *Torrent) setInfo(infoBytes []byte) error {
	var info metainfo.Info
	if err := bencode.Unmarshal(infoBytes, &info); err != nil {
		return fmt.Errorf("%w: info: %v", ErrBadTorrent, err)
	}
	st, err := t.openStorage(&info)
	if err != nil {
		return err
	}
	return t.start(&info, infoBytes, st)
}

// completionDir returns where a torrent whose data is in dir keeps its
// piece completion: Config.CompletionDir, or dir/.bttspeed.
func (t *Torrent) completionDir(dir string) string {
	if t.cl.cfg.CompletionDir != "" {
		return t.cl.cfg.CompletionDir
	}
	return filepath.Join(dir, ".bttspeed")
}

// zeroSHA1 returns the SHA-1 of n zero bytes, or the context's error.
func zeroSHA1(ctx context.Context, n int64) ([20]byte, error) {
	zeros := make([]byte, 1<<20)
	h := sha1.New()
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return [20]byte{}, err
		}
		k := min(n, int64(len(zeros)))
		h.Write(zeros[:k])
		n -= k
	}
	return [20]byte(h.Sum(nil)), nil
}
