//go:build race

package e2e_test

// raceEnabled reports a -race build: the commands are built with -race too.
const raceEnabled = true
