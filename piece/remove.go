package piece

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/anacrolix/torrent/metainfo"
)

// RemoveData deletes a torrent's files from cfg.Dir — the paths storage
// would use, after the same checks (CheckInfo), and the directories of a
// torrent of several files once empty — and marks its pieces not complete
// in the completion database, so that adding it again starts from
// nothing. The storage must be closed. Files already gone are no error.
func RemoveData(cfg StorageConfig) error {
	if err := CheckInfo(cfg.Info); err != nil {
		return err
	}
	if cfg.Dir == "" {
		return fmt.Errorf("piece: remove data: no directory")
	}
	cdir := cfg.CompletionDir
	if cdir == "" {
		cdir = cfg.Dir
	}
	// The database may be open in this process for other torrents that
	// share it: take a reference to it rather than open it again (bbolt
	// locks its file, and a second open would wait for the lock).
	pc, err := openCompletion(cdir)
	if err != nil {
		return fmt.Errorf("piece: open completion database in %s: %w", cdir, err)
	}
	var errs []error
	for i := range cfg.Info.NumPieces() {
		if err := pc.Set(metainfo.PieceKey{InfoHash: cfg.InfoHash, Index: i}, false); err != nil {
			errs = append(errs, fmt.Errorf("piece: forget piece %d: %w", i, err))
			break
		}
	}
	errs = append(errs, pc.Close())
	root := filepath.Join(cfg.Dir, cfg.Info.BestName())
	multi := len(cfg.Info.Files) != 0
	for _, f := range cfg.Info.UpvertedFiles() {
		if IsPadding(f) {
			// Never created: the path may name another torrent's file
			// (the duplicate-path check passes over padding).
			continue
		}
		path := root
		if multi {
			path = filepath.Join(append([]string{root}, f.BestPath()...)...)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("piece: remove %s: %w", path, err))
		}
	}
	if multi {
		removeEmptyDirs(root)
	}
	return errors.Join(errs...)
}

// removeEmptyDirs removes root and the directories below it that are empty
// once their empty subdirectories are gone; anything else stays.
func removeEmptyDirs(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			removeEmptyDirs(filepath.Join(root, e.Name()))
		}
	}
	_ = os.Remove(root) // fails, as it should, unless empty
}
