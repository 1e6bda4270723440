package bttc

import (
	"time"

	"github.com/bttspeed/bttspeed/internal/evmescrow"
)

// MaxChannelLifetime is the longest a channel may run (the escrow's
// MAX_LIFETIME).
const MaxChannelLifetime = evmescrow.MaxChannelLifetime

// MaxChainTime is the latest time read from the chain
// (9999-12-31T23:59:59Z); a later uint64 reads as it.
var MaxChainTime = evmescrow.MaxChainTime()

func chainTime(secs uint64) time.Time { return evmescrow.ChainTime(secs) }
