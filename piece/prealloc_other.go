//go:build !linux

package piece

import "os"

// preallocate is a no-op where fallocate is not available: files stay
// sparse.
func preallocate(*os.File, int64) error { return nil }

// pwritev writes bufs back to back at off, one write each.
func pwritev(f *os.File, bufs [][]byte, off int64) error {
	for _, b := range bufs {
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}
