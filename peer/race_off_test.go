//go:build !race

package peer_test

// raceEnabled reports a -race build.
const raceEnabled = false
