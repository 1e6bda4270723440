package peer

import "time"

// SetMinEvictAge sets how long a peer must idle before a newcomer may
// replace it in a full torrent (tests shorten it).
func SetMinEvictAge(c *Config, d time.Duration) { c.minEvictAge = d }
