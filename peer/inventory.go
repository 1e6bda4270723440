package peer

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/piece"
)

// ErrNoInfo reports a call that needs the info dictionary on a torrent
// that does not have it yet (a magnet link fetching it: see GotInfo).
var ErrNoInfo = errors.New("peer: the torrent's info is not known yet")

// Torrents returns the client's torrents, in the order of their info
// hashes.
func (cl *Client) Torrents() []*Torrent {
	cl.mu.Lock()
	ts := make([]*Torrent, 0, len(cl.torrents))
	for _, t := range cl.torrents {
		ts = append(ts, t)
	}
	cl.mu.Unlock()
	slices.SortFunc(ts, func(a, b *Torrent) int { return bytes.Compare(a.ih[:], b.ih[:]) })
	return ts
}

// Torrent returns the client's torrent of the info hash, if it has one.
func (cl *Client) Torrent(ih metainfo.Hash) (*Torrent, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	t, ok := cl.torrents[ih]
	return t, ok
}

// Remove closes the torrent of the info hash (as Torrent.Close does) and,
// with deleteData, deletes its files and forgets which pieces were
// complete, so that adding it again downloads it again. Without the info
// (a magnet link still fetching it) there is nothing on disk to delete.
func (cl *Client) Remove(ih metainfo.Hash, deleteData bool) error {
	t, ok := cl.Torrent(ih)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTorrent, ih.HexString())
	}
	var info *metainfo.Info
	select {
	case <-t.gotInfo:
		info = t.info // set before GotInfo closed, never after
	default:
	}
	if err := t.Close(); err != nil {
		return err
	}
	if !deleteData || info == nil {
		return nil
	}
	dir, err := filepath.Abs(t.spec.Dir)
	if err != nil {
		return fmt.Errorf("peer: data dir: %w", err)
	}
	if err := piece.RemoveData(piece.StorageConfig{Dir: dir, Info: info, InfoHash: ih, CompletionDir: t.completionDir(dir)}); err != nil {
		return fmt.Errorf("peer: remove %s: %w", ih.HexString(), err)
	}
	return nil
}

// Metainfo returns the torrent as a .torrent would have it — its info
// dictionary and the trackers it was added with — so that a magnet link's
// info can be saved (MetaInfo.Write). It fails before the info is known.
func (t *Torrent) Metainfo() (*metainfo.MetaInfo, error) {
	select {
	case <-t.gotInfo:
	default:
		return nil, fmt.Errorf("%w: %s", ErrNoInfo, t.ih.HexString())
	}
	mi := &metainfo.MetaInfo{InfoBytes: t.infoBytes} // set before GotInfo closed, never after
	var tiers [][]string
	if orig, magnet, err := t.spec.load(); err == nil {
		switch {
		case orig != nil:
			tiers = orig.UpvertedAnnounceList()
			mi.Nodes, mi.UrlList = orig.Nodes, orig.UrlList
			mi.Comment, mi.CreatedBy, mi.CreationDate = orig.Comment, orig.CreatedBy, orig.CreationDate
		case len(magnet.Trackers) > 0:
			tiers = [][]string{magnet.Trackers}
		}
	}
	if len(t.spec.Trackers) > 0 {
		tiers = append(tiers, t.spec.Trackers)
	}
	if len(tiers) > 0 && len(tiers[0]) > 0 {
		mi.Announce = tiers[0][0]
		mi.AnnounceList = tiers
	}
	return mi, nil
}
