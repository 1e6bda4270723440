package tron

import (
	"testing"

	"github.com/bttspeed/bttspeed/internal/leaktest"
)

// Every goroutine of the client's must be gone when the tests end.
func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }
