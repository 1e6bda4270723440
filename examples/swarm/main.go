// Command swarm runs a paid BitTorrent swarm on one machine: a seeder that
// sells its upload slots in a uniform-price auction, leechers of ours that
// bid for them with different strategies and budgets and pay for every
// verified piece through payment channels, and stock (legacy) anacrolix
// clients that pay nothing and are served through the free slot — all on
// 127.0.0.1, with the payment channels on an in-process TRON devnet
// running the real escrow contract, reached through gotron-sdk over gRPC —
// or, with -chain bttc, on a BitTorrent Chain dev chain (go-ethereum's, over
// JSON-RPC on loopback) running the same contract with EIP-712 vouchers.
// Above paychan.Escrow the code is the same for both.
//
//	go run ./examples/swarm                       # 64 MiB, 4 paying leechers, 1 legacy
//	go run ./examples/swarm -chain bttc           # the same on BTTC
//	go run ./examples/swarm -size 16MiB -strategies default,fixed:3 -legacy 2
//	go run ./examples/swarm -h                    # every flag
//
// It shows each leecher's progress (bars on a terminal, plain lines
// otherwise), settles every channel on the chain (the seeder closes them
// with the best vouchers, which refunds the rest of each deposit; a channel
// it holds no voucher for is reclaimed by its payer), prints a table of
// what each leecher bid, paid and got, writes a plot of download progress
// over time, and exits 0 only if every download is byte-identical to the
// source and every balance on the chain adds up: each payer holds what it
// was minted less what it spent, the seeder gained exactly what they spent,
// which is what it earned and redeemed, and the escrow holds nothing.
//
// SIGINT, SIGTERM or SIGHUP stop it cleanly: every client and the chain
// are closed and the temp dir removed. Logs go to stderr (-log-level,
// -log-format).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bttspeed/bttspeed/btt"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "swarm:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err = run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "swarm:", err)
		os.Exit(1)
	}
}

// Defaults of the flags.
const (
	defaultSize       = "64MiB"
	defaultStrategies = "default,fixed:2,adaptive,paced"
	defaultReserve    = "0.001" // BTT per MB
	defaultFixed      = "0.02"  // BTT per MB
	defaultBudget     = "1"     // BTT
	defaultThreshold  = "0.1"   // BTT
	defaultUpload     = "20MiB" // per second
	defaultPlot       = "swarm.png"
)

// strategyNames are the strategies a leecher can use, in the order
// -leechers N cycles through them.
var strategyNames = []string{"default", "fixed", "adaptive", "paced"}

// parseFlags turns the command line into a Config; errors say which flag
// is wrong and why. -h gives flag.ErrHelp after printing the usage.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("swarm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	size := fs.String("size", defaultSize, "size of the generated file: bytes, or a number with KiB, MiB or GiB")
	leechers := fs.Int("leechers", 4, "number of paying leechers; they cycle through "+strings.Join(strategyNames, ", ")+" (or give -strategies)")
	strategies := fs.String("strategies", defaultStrategies, "the paying leechers, one `name[:budget]` each, comma-separated: strategy "+
		strings.Join(strategyNames, ", ")+" and an optional budget in BTT (default: -budget)")
	legacy := fs.Int("legacy", 1, "number of legacy leechers: stock anacrolix clients, which never pay")
	reserve := fs.String("reserve", defaultReserve, "the seeder's reserve price, in `BTT per MB` (10^6 bytes): the lowest bid that wins a paid slot")
	fixed := fs.String("fixed-price", defaultFixed, "the fixed strategy's bid, in `BTT per MB` (capped by its budget)")
	budget := fs.String("budget", defaultBudget, "each paying leecher's budget in `BTT`, unless -strategies names one; it is also its channel's deposit")
	threshold := fs.String("redeem-threshold", defaultThreshold, "the seeder claims a channel on chain while the swarm runs once it holds this many `BTT` unredeemed (0: only at the end)")
	upload := fs.String("upload-rate", defaultUpload, "the seeder's upload cap, `bytes per second` (KiB, MiB, GiB suffixes; 0: no cap)")
	slots := fs.Int("slots", 3, "the seeder's upload slots; one is a free slot that rotates among all peers, the rest are auctioned")
	seed := fs.Uint64("seed", 1, "seed of the file's bytes, the devnet's keys and the choker's draws (reproducible inputs)")
	plotPath := fs.String("plot", defaultPlot, "where to write the progress plot (.png or .svg; empty: no plot)")
	quiet := fs.Bool("quiet", false, "no progress display: only the results")
	chainName := fs.String("chain", ChainTRON, "the chain the payment channels are on, in this process: "+ChainTRON+" (TRON's devnet) or "+ChainBTTC+" (a BitTorrent Chain dev chain: go-ethereum, JSON-RPC on loopback, EIP-712 vouchers, gas in native BTT)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	logLevel := fs.String("log-level", "warn", "log level on stderr: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format on stderr: text or json")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: swarm [flags]

Runs a seeder that sells its upload slots for BTT, paying leechers with
different bid strategies and legacy (non-paying) anacrolix clients on
127.0.0.1, with the payment channels on an in-process TRON devnet (or a
BitTorrent Chain dev chain with -chain bttc). It
prints progress, a table of prices, times and payments, writes a plot, and
exits 0 only if every download matches the source and every balance on the
chain adds up.

Strategies: default (the whitepaper's: spend the balance over what remains),
fixed (bids -fixed-price), adaptive (starts at the reserve, raises 25%% after
each lost round, lowers 10%% after three wins), paced (aims to finish within
60%% of the time the swarm would take with the seeder's upload shared evenly).

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q (every option is a flag; see -h)", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var cfg Config
	var err error
	cfg.Chain = *chainName
	if cfg.Size, err = parseSize(*size); err != nil {
		return Config{}, fmt.Errorf("-size: %w", err)
	}
	if strings.TrimSpace(*upload) != "0" {
		if cfg.UploadRate, err = parseSize(*upload); err != nil {
			return Config{}, fmt.Errorf("-upload-rate: %w", err)
		}
	}
	baseBudget, err := parseBTT(*budget, false)
	if err != nil {
		return Config{}, fmt.Errorf("-budget: %w", err)
	}
	switch {
	case given["strategies"] && given["leechers"]:
		if cfg.Leechers, err = parseStrategies(*strategies, baseBudget); err != nil {
			return Config{}, fmt.Errorf("-strategies: %w", err)
		}
		if len(cfg.Leechers) != *leechers {
			return Config{}, fmt.Errorf("-leechers %d but -strategies names %d leechers: give one of them, or make them agree", *leechers, len(cfg.Leechers))
		}
	case given["leechers"]:
		if *leechers < 0 || *leechers > maxLeechers {
			return Config{}, fmt.Errorf("-leechers %d: want 0 to %d", *leechers, maxLeechers)
		}
		for i := range *leechers {
			cfg.Leechers = append(cfg.Leechers, LeecherSpec{Strategy: strategyNames[i%len(strategyNames)], Budget: baseBudget})
		}
	default:
		if cfg.Leechers, err = parseStrategies(*strategies, baseBudget); err != nil {
			return Config{}, fmt.Errorf("-strategies: %w", err)
		}
	}
	cfg.Legacy = *legacy
	if cfg.Reserve, err = perByte(*reserve); err != nil {
		return Config{}, fmt.Errorf("-reserve: %w", err)
	}
	if cfg.FixedPrice, err = perByte(*fixed); err != nil {
		return Config{}, fmt.Errorf("-fixed-price: %w", err)
	}
	if cfg.RedeemThreshold, err = parseBTT(*threshold, true); err != nil {
		return Config{}, fmt.Errorf("-redeem-threshold: %w", err)
	}
	cfg.Slots = *slots
	cfg.Seed = *seed
	cfg.Plot = *plotPath
	cfg.Quiet = *quiet
	cfg.Timeout = *timeout
	if cfg.Logger, err = newLogger(stderr, *logLevel, *logFormat); err != nil {
		return Config{}, err
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// parseStrategies parses "name[:budget],…".
func parseStrategies(s string, budget btt.Amount) ([]LeecherSpec, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []LeecherSpec
	for item := range strings.SplitSeq(s, ",") {
		name, b, hasBudget := strings.Cut(strings.TrimSpace(item), ":")
		name = strings.ToLower(name)
		spec := LeecherSpec{Strategy: name, Budget: budget}
		if !knownStrategy(name) {
			return nil, fmt.Errorf("unknown strategy %q: want one of %s", name, strings.Join(strategyNames, ", "))
		}
		if hasBudget {
			var err error
			if spec.Budget, err = parseBTT(b, false); err != nil {
				return nil, fmt.Errorf("%s: budget: %w", name, err)
			}
		}
		out = append(out, spec)
	}
	return out, nil
}

func knownStrategy(name string) bool {
	for _, n := range strategyNames {
		if n == name {
			return true
		}
	}
	return false
}

// parseSize reads bytes, or a number with a KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSuffix(num, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q: want a positive number of bytes, optionally with KiB, MiB or GiB", s)
	}
	return n * mult, nil
}

// parseBTT reads an amount in BTT ("1.5").
func parseBTT(s string, zeroOK bool) (btt.Amount, error) {
	a, err := btt.ParseBTT(strings.TrimSpace(s))
	if err != nil {
		return btt.Zero, fmt.Errorf("%q: want an amount of BTT such as 1.5: %w", s, err)
	}
	if a.IsZero() && !zeroOK {
		return btt.Zero, fmt.Errorf("%q: must be above zero", s)
	}
	return a, nil
}

// perByte reads a price in BTT per MB and returns it per byte, in base
// units.
func perByte(s string) (btt.Amount, error) {
	a, err := parseBTT(s, false)
	if err != nil {
		return btt.Zero, err
	}
	p := a.DivUint64(bytesPerMB)
	if p.IsZero() {
		return btt.Zero, fmt.Errorf("%q BTT per MB is below one base unit (10^-18 BTT) per byte", s)
	}
	return p, nil
}

// perMB is a per-byte price in BTT per MB, for display.
func perMB(p btt.Amount) string {
	if p.IsZero() {
		return "-"
	}
	mb, err := p.MulUint64(bytesPerMB)
	if err != nil {
		return p.String() + "/B"
	}
	return formatBTT(mb, 5)
}

// formatBTT shows an amount in BTT with at most digits decimals (display
// only: checks compare exact amounts).
func formatBTT(a btt.Amount, digits int) string {
	r := new(big.Rat).SetFrac(a.Big(), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
	s := r.FloatString(digits)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "0" && !a.IsZero() && digits > 0 {
		return "<0." + strings.Repeat("0", digits-1) + "1"
	}
	return s
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("-log-format %q: want text or json", format)
	}
}
