package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/bttspeed/bttspeed/peer"
)

// fileSelection is -files: the files of the torrent to download, by path
// (File.Path, with or without the torrent's name in front: album/cd2/x
// or cd2/x) or by 0-based index. The others
// get priority None: never requested, so never paid for (pieces they
// share with a chosen file come whole).
type fileSelection struct {
	want map[string]bool

	mu   sync.Mutex
	seen map[string]bool // selectors that named a file
}

// newFileSelection parses the -files values (each comma-separated); nil
// if none was given.
func newFileSelection(vals []string) *fileSelection {
	if len(vals) == 0 {
		return nil
	}
	s := &fileSelection{want: make(map[string]bool), seen: make(map[string]bool)}
	for _, v := range vals {
		for _, f := range strings.Split(v, ",") {
			if f = strings.Trim(strings.TrimSpace(f), "/"); f != "" {
				s.want[f] = true
			}
		}
	}
	return s
}

// priority is TorrentSpec.FilePriority.
func (s *fileSelection) priority(index int, path string) peer.PiecePriority {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := []string{path, strconv.Itoa(index)}
	if _, inner, ok := strings.Cut(path, "/"); ok {
		keys = append(keys, inner) // without the torrent's name
	}
	for _, key := range keys {
		if s.want[key] {
			s.seen[key] = true
			return peer.PiecePriorityNormal
		}
	}
	return peer.PiecePriorityNone
}

// check reports the selectors that named no file of the torrent, listing
// the files it has (once the info is known and FilePriority has run).
func (s *fileSelection) check(files []*peer.File) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var missing []string
	for f := range s.want {
		if !s.seen[f] {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var have []string
	for i, f := range files {
		if i == 20 {
			have = append(have, fmt.Sprintf("… %d more", len(files)-20))
			break
		}
		have = append(have, fmt.Sprintf("%d %s", i, f.Path()))
	}
	return fmt.Errorf("-files: %s named no file of the torrent; it has: %s", strings.Join(missing, ", "), strings.Join(have, "; "))
}
