// Package btt holds the value types every layer of bttspeed shares: an
// Amount of BTT base units (1 BTT = 10^18 base units) held as an unsigned
// 256-bit integer, and a TRON Address (0x41 followed by 20 bytes, written in
// base58check).
//
// Amounts never use floats and never silently wrap: every arithmetic method
// that could overflow or underflow reports it. The package is pure: it does
// no I/O and imports nothing from the network or chain layers, so the pure
// cores (choker, bidding, paychan) can use it freely.
package btt
