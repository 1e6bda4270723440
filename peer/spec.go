package peer

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/peer/discovery"
)

// TorrentSpec says what torrent to add and how. Exactly one of MetaInfo,
// TorrentFile, TorrentBytes and Magnet is set.
type TorrentSpec struct {
	MetaInfo     *metainfo.MetaInfo
	TorrentFile  string
	TorrentBytes []byte
	Magnet       string

	// Dir is where the data goes (default Config.DataDir).
	Dir string
	// Verify hashes the data already in Dir before starting, so a seeder
	// can serve files it has; pieces found complete are not fetched.
	// Without it only pieces recorded complete by an earlier run count.
	Verify bool
	// Mmap selects memory-mapped storage (see piece.StorageConfig).
	Mmap bool
	// Peers are dialed at once.
	Peers []netip.AddrPort
	// Trackers are announced to, besides those of the .torrent or magnet
	// link (unless NoTorrentTrackers).
	Trackers          []string
	NoTorrentTrackers bool
	// Sources are more peer sources, run for the torrent's life.
	Sources []discovery.Source
	// Policy overrides Config.Policy for this torrent.
	Policy choker.Policy
	// FilePriority, if set, gives each file its first priority when the
	// info is known (index in the info's file list, path as File.Path
	// has it; an invalid priority counts as normal). Nil leaves every
	// file at PiecePriorityNormal. Files set to PiecePriorityNone are not
	// downloaded, except for the pieces they share with wanted files.
	FilePriority func(index int, path string) PiecePriority
	// WebSeeds are BEP 19 web seeds (http or https URLs), used besides
	// the .torrent's url-list and the magnet link's ws= parameters, with
	// the default WebSeedConfig (Torrent.AddWebSeeds takes another).
	WebSeeds []string
}

// load parses the spec's source.
func (s TorrentSpec) load() (*metainfo.MetaInfo, *metainfo.MagnetV2, error) {
	n := 0
	for _, set := range []bool{s.MetaInfo != nil, s.TorrentFile != "", s.TorrentBytes != nil, s.Magnet != ""} {
		n += btoi(set)
	}
	if n != 1 {
		return nil, nil, fmt.Errorf("%w: set exactly one of MetaInfo, TorrentFile, TorrentBytes and Magnet (%d set)", ErrBadTorrent, n)
	}
	switch {
	case s.MetaInfo != nil:
		return s.MetaInfo, nil, nil
	case s.TorrentFile != "":
		mi, err := LoadTorrentFile(s.TorrentFile)
		return mi, nil, err
	case s.TorrentBytes != nil:
		mi, err := metainfo.Load(bytes.NewReader(s.TorrentBytes))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadTorrent, err)
		}
		return mi, nil, nil
	}
	m, err := ParseMagnet(s.Magnet)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: magnet: %v", ErrBadTorrent, err)
	}
	if !m.InfoHash.Ok && m.V2InfoHash.Ok {
		// Only a v2 hash (btmh): the torrent goes by its truncation, as
		// v2 peers, trackers and the DHT know it (BEP 52).
		m.InfoHash.Value, m.InfoHash.Ok = *m.V2InfoHash.Value.ToShort(), true
	}
	if !m.InfoHash.Ok {
		return nil, nil, fmt.Errorf("%w: magnet has no info hash (btih or btmh)", ErrBadTorrent)
	}
	return nil, &m, nil
}

// maxTorrentFile bounds a .torrent we read.
const maxTorrentFile = 64 << 20

// LoadTorrentFile reads and parses a .torrent file.
func LoadTorrentFile(path string) (*metainfo.MetaInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if st.Size() > maxTorrentFile {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrBadTorrent, path, st.Size(), maxTorrentFile)
	}
	mi, err := metainfo.Load(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadTorrent, path, err)
	}
	return mi, nil
}

// ParseMagnet parses a magnet link (v1 and v2 info hashes) as anacrolix's
// metainfo.ParseMagnetV2Uri does, except that a link that makes it panic
// (a base32 info hash with padding, say) is an error: magnet links come
// from strangers.
func ParseMagnet(uri string) (m metainfo.MagnetV2, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = metainfo.MagnetV2{}, fmt.Errorf("malformed magnet link: %v", r)
		}
	}()
	return metainfo.ParseMagnetV2Uri(uri)
}
