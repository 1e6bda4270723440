package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// watcher seeds what appears in a directory and drops what leaves it.
// Each file or folder directly in the directory is one torrent, like a
// PATH argument; a .torrent there is seeded from the directory's data,
// and data with its .torrent beside it (X and X.torrent) is seeded as that
// .torrent, so that its swarm is the one joined.
// An entry is taken once it has not changed for one scan (or its newest
// file is older than settle), so a file still being copied in is not
// hashed half-written; an entry that changes is dropped and taken again.
// The .torrent files of watched data are written to torrents (in the
// state directory), never into the watched directory.
type watcher struct {
	dir      string
	every    time.Duration
	settle   time.Duration
	torrents string
	mk       *maker
	set      *seedSet
	out      io.Writer
	log      *slog.Logger

	seen map[string]*watchEntry
}

// watchEntry is what the watcher knows of one name in the directory.
type watchEntry struct {
	size   int64
	newest time.Time
	// ready: unchanged for a scan; done: seeded (hash) or refused for
	// this size and time (retried when they change).
	ready, done bool
	seeded      bool
	hash        metainfo.Hash
	out         string // the .torrent written for it, if data
}

// skipName reports names the watcher never takes: hidden files and the
// partial files of downloaders and copiers.
func skipName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
		return true
	}
	for _, suf := range []string{".part", ".partial", ".tmp", ".crdownload", ".!qB", ".aria2"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// loop scans every w.every until ctx ends (the first scan, at start, is
// the caller's).
func (w *watcher) loop(ctx context.Context) {
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.scan(ctx)
	}
}

// scan takes one look at the directory: new entries are noted (or
// seeded, once settled), changed ones dropped, removed ones dropped.
func (w *watcher) scan(ctx context.Context) {
	des, err := os.ReadDir(w.dir)
	if err != nil {
		w.log.Warn("reading the watched directory", "dir", w.dir, "err", err)
		return
	}
	present := make(map[string]bool, len(des))
	for _, de := range des {
		present[de.Name()] = true
	}
	now := time.Now()
	for _, de := range des {
		if ctx.Err() != nil {
			return
		}
		name := de.Name()
		if skipName(name) {
			continue
		}
		isTorrent := strings.HasSuffix(name, ".torrent") && !de.IsDir()
		if !isTorrent && present[name+".torrent"] {
			// The operator's .torrent for this data is here (ours never
			// are): it is the entry, so that its swarm is the one seeded.
			if e := w.seen[name]; e != nil {
				w.drop(ctx, name, e, "its .torrent came")
				delete(w.seen, name)
			}
			continue
		}
		path := filepath.Join(w.dir, name)
		st, err := os.Stat(path)
		if err != nil || !(st.Mode().IsRegular() || st.IsDir()) {
			continue
		}
		size, newest, err := measure(path, st)
		if err != nil {
			continue
		}
		e := w.seen[name]
		switch {
		case e == nil:
			e = &watchEntry{size: size, newest: newest, ready: now.Sub(newest) >= w.settle}
			w.seen[name] = e
		case e.size != size || !e.newest.Equal(newest):
			w.drop(ctx, name, e, "changed")
			*e = watchEntry{size: size, newest: newest}
			continue
		default:
			e.ready = true
		}
		if e.ready && !e.done {
			w.take(ctx, name, path, isTorrent, e)
		}
	}
	for name, e := range w.seen {
		if !present[name] {
			w.drop(ctx, name, e, "removed")
			delete(w.seen, name)
		}
	}
}

// take seeds one settled entry.
func (w *watcher) take(ctx context.Context, name, path string, isTorrent bool, e *watchEntry) {
	e.done = true
	it := item{path: path, torrent: isTorrent, dir: w.dir}
	if !isTorrent {
		it.out = filepath.Join(w.torrents, name+".torrent")
		e.out = it.out
	}
	m, err := w.mk.make(ctx, it)
	if err != nil && !isTorrent && errors.Is(err, errOtherTorrent) {
		// The data changed while the seeder was down: its old .torrent,
		// ours, in the state directory, goes.
		_ = os.Remove(it.out)
		m, err = w.mk.make(ctx, it)
	}
	if err != nil {
		w.log.Warn("not seeding a watched entry", "path", path, "err", err)
		return
	}
	sd, err := w.set.add(ctx, m, path, true)
	if err != nil {
		if errors.Is(err, errAlready) {
			w.log.Info("a watched entry is seeded already", "err", err)
		} else if ctx.Err() == nil {
			w.log.Warn("not seeding a watched entry", "path", path, "err", err)
		}
		return
	}
	e.seeded, e.hash = true, sd.tor.InfoHash()
	fmt.Fprintf(w.out, "added: %s %s %s\n", sd.tor.InfoHash().HexString(), sd.file, sd.name)
}

// drop stops seeding an entry that changed or went.
func (w *watcher) drop(ctx context.Context, name string, e *watchEntry, why string) {
	if e.out != "" {
		_ = os.Remove(e.out)
	}
	if !e.seeded {
		return
	}
	w.set.remove(ctx, e.hash)
	fmt.Fprintf(w.out, "dropped: %s %s (%s)\n", e.hash.HexString(), filepath.Join(w.dir, name), why)
}
