// Package leaktest is the goroutine-leak check of the packages whose tests
// import gotron-sdk: goleak, ignoring the file watcher that gotron-sdk's
// keystore package starts at init and never stops.
package leaktest

import (
	"testing"

	"go.uber.org/goleak"
)

// Ignore are the goroutines gotron-sdk's keystore starts at init.
var Ignore = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/rjeczalik/notify.(*nonrecursiveTree).dispatch"),
	goleak.IgnoreTopFunction("github.com/rjeczalik/notify.(*nonrecursiveTree).internal"),
}

// VerifyTestMain runs the tests, then fails if a goroutine other than
// those is left running. Call it from TestMain.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	goleak.VerifyTestMain(m, append(append([]goleak.Option(nil), Ignore...), opts...)...)
}
