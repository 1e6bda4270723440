//go:build !linux

package piece

import "os"

// preallocate is a no-op where fallocate is not available: files stay
// sparse.
func preallocate(*os.File, int64) error { return nil }
