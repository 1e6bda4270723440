package tron

import (
	"testing"

	"go.uber.org/goleak"
)

// gotron-sdk's client imports its keystore, which imports
// rjeczalik/notify: that starts two goroutines in its init, whatever the
// program does. Every other goroutine must be gone when the tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/rjeczalik/notify.(*nonrecursiveTree).dispatch"),
		goleak.IgnoreTopFunction("github.com/rjeczalik/notify.(*nonrecursiveTree).internal"),
	)
}
