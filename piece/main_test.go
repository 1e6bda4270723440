package piece

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running (the
// storage backends and the completion database must not start any that
// outlive Close).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
