package manybench_test

import (
	"testing"

	"github.com/bttspeed/bttspeed/internal/leaktest"
)

// TestMain fails the package if a run leaves a goroutine running (but for
// gotron-sdk's file watcher, started at init: leaktest). The child
// processes run this check too, on their own exit.
func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }
