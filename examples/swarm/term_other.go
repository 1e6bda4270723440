//go:build !unix

package main

import "io"

// isTerminal reports false: progress goes out as plain lines.
func isTerminal(io.Writer) bool { return false }
