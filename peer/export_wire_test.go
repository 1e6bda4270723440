package peer

import "time"

// SetPEXInterval sets the least time between two ut_pex messages to one
// peer (tests shorten it).
func SetPEXInterval(c *Config, d time.Duration) { c.pexInterval = d }

// PEXMaxDelta is pexMaxDelta, for tests.
const PEXMaxDelta = pexMaxDelta
