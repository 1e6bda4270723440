// Package simulate is a deterministic swarm simulator for BitTorrent Speed
// bid strategies and choking policies: seeders with upload capacity and a
// choker.Policy, leechers with download capacity, budgets and a
// bidding.Strategy, arriving over time, on a virtual clock. No sockets, no
// chain, no wall clock: the same Scenario (and Seed) gives the same Result,
// bit for bit, so a strategy can be unit-tested against the shipped ones in
// a few lines (see the package example).
//
// # Model
//
// Time advances in ticks (1 s by default). Every rechoke interval (10 s)
// each leecher that still wants data asks its Strategy for a bid at each
// seeder, and each seeder runs its Policy over its peers; paid winners are
// told the clearing price, losers the price to beat. Between rechokes a
// seeder splits its upload capacity equally among the peers it unchokes,
// each share capped by what the leecher can still receive that tick (its
// download capacity, shared by all seeders serving it, and the bytes it
// still needs); capacity a capped peer leaves unused is offered again to the
// others. Delivery is fluid (bytes, not pieces).
//
// Bytes received in a Paid slot cost the clearing price per byte, paid at
// once (payment channels and credit windows are the engine's business, not
// the market's); bytes from free or regular slots are free. Leechers do not
// upload to each other: the simulator studies the market between seeders
// and paying leechers. A leecher with a nil Strategy is a legacy peer: it
// never bids and is served only by free slots.
//
// Rates that policies see (PeerStat.UpRate) are exponential moving averages
// of bytes sent per second with a 20 s time constant, as in the engine.
package simulate

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
)

// ErrScenario reports a Scenario that cannot be run.
var ErrScenario = errors.New("simulate: invalid scenario")

// Scenario describes one simulated swarm. Zero fields take the defaults
// shown.
type Scenario struct {
	// Seed seeds every random choice (policies' optimistic draws).
	Seed uint64
	// Size is the number of bytes every leecher downloads (required).
	Size int64
	// Duration is the most simulated time to run (default 1 h); the run
	// ends earlier once every leecher is done.
	Duration time.Duration
	// Tick is the step of the virtual clock (default 1 s).
	Tick time.Duration
	// Rechoke is the interval between bidding and rechoke rounds (default
	// 10 s).
	Rechoke time.Duration
	// SampleEvery is the interval of the progress samples kept for plots
	// (default 10 s; they cost memory: leechers × Duration/SampleEvery).
	SampleEvery time.Duration
	// Start is the virtual time of tick 0 (default 2026-01-01 UTC).
	Start    time.Time
	Seeders  []Seeder
	Leechers []Leecher
}

// Seeder is a peer that has the whole torrent and sells its upload.
type Seeder struct {
	Name string
	// Upload is the upload capacity in bytes per second (required).
	Upload int64
	// Policy makes the seeder's choking policy; it gets a generator
	// seeded from the scenario's Seed. Nil means choker.BidDriven with its
	// defaults (5 slots, 1 free, no reserve).
	Policy func(rng *rand.Rand) (choker.Policy, error)
}

// Leecher is a peer that downloads the torrent.
type Leecher struct {
	Name string
	// Download is the download capacity in bytes per second (required).
	Download int64
	// Budget is what the leecher may spend in all, in base units.
	Budget btt.Amount
	// Strategy bids for the leecher; nil makes it a legacy peer that
	// never bids.
	Strategy bidding.Strategy
	// Arrive is when the leecher joins, after the scenario's start.
	Arrive time.Duration
	// Playback, if set, makes the leecher a player streaming the torrent
	// from its start at this many bytes per second: playback starts once
	// StartBuffer of it is downloaded (default 5 s), and stalls whenever
	// the playhead catches up with the bytes received before the end. Its
	// Strategy sees the buffer in Market.Stream.
	Playback    int64
	StartBuffer time.Duration
}

func (sc *Scenario) setDefaults() error {
	if sc.Size <= 0 {
		return fmt.Errorf("%w: Size %d must be positive", ErrScenario, sc.Size)
	}
	if len(sc.Seeders) == 0 {
		return fmt.Errorf("%w: no seeders", ErrScenario)
	}
	if sc.Duration < 0 || sc.Tick < 0 || sc.Rechoke < 0 || sc.SampleEvery < 0 {
		return fmt.Errorf("%w: negative duration", ErrScenario)
	}
	if sc.Duration == 0 {
		sc.Duration = time.Hour
	}
	if sc.Tick == 0 {
		sc.Tick = time.Second
	}
	if sc.Rechoke == 0 {
		sc.Rechoke = 10 * time.Second
	}
	if sc.SampleEvery == 0 {
		sc.SampleEvery = 10 * time.Second
	}
	for i := range sc.Leechers {
		l := &sc.Leechers[i]
		if l.Playback < 0 || l.StartBuffer < 0 {
			return fmt.Errorf("%w: leecher %d (%q): negative playback", ErrScenario, i, l.Name)
		}
		if l.Playback > 0 && l.StartBuffer == 0 {
			l.StartBuffer = 5 * time.Second
		}
	}
	if sc.Start.IsZero() {
		sc.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if sc.Rechoke < sc.Tick || sc.Rechoke%sc.Tick != 0 {
		return fmt.Errorf("%w: Rechoke %v must be a multiple of Tick %v", ErrScenario, sc.Rechoke, sc.Tick)
	}
	if sc.SampleEvery%sc.Tick != 0 {
		return fmt.Errorf("%w: SampleEvery %v must be a multiple of Tick %v", ErrScenario, sc.SampleEvery, sc.Tick)
	}
	if sc.Duration/sc.Tick > 100_000_000 {
		return fmt.Errorf("%w: %v in ticks of %v is too many steps", ErrScenario, sc.Duration, sc.Tick)
	}
	for i, s := range sc.Seeders {
		if s.Upload <= 0 {
			return fmt.Errorf("%w: seeder %d (%q): Upload %d must be positive", ErrScenario, i, s.Name, s.Upload)
		}
	}
	for i, l := range sc.Leechers {
		if l.Download <= 0 {
			return fmt.Errorf("%w: leecher %d (%q): Download %d must be positive", ErrScenario, i, l.Name, l.Download)
		}
		if l.Arrive < 0 {
			return fmt.Errorf("%w: leecher %d (%q): negative Arrive", ErrScenario, i, l.Name)
		}
	}
	return nil
}
