//go:build !linux

package peer

// PacingRates returns nothing off Linux: TCP_INFO's pacing rate is
// Linux's.
func (t *Torrent) PacingRates() []uint64 { return nil }
