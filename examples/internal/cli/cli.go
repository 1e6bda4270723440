// Package cli holds what the example commands (examples/seeder,
// examples/leecher) share on their command lines: exit codes, logging
// flags, and the parsers of amounts, prices and peer addresses.
//
// Exit codes: 0 when the command did its job; 2 when it could not start —
// a bad flag, a missing file, an unreachable node, a wallet without the TRX
// or tokens it needs (every such error is a *SetupError); 1 when something
// failed once running.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/bttspeed/bttspeed/btt"
)

// Exit codes of the example commands.
const (
	ExitOK      = 0
	ExitFailure = 1 // failed while running
	ExitSetup   = 2 // could not start: bad flags, missing files, unreachable node, empty wallet
)

// SetupError is an error that stops a command before it starts: exit code 2.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// Setup marks err as a setup error (nil stays nil).
func Setup(err error) error {
	if err == nil {
		return nil
	}
	var se *SetupError
	if errors.As(err, &se) {
		return err
	}
	return &SetupError{Err: err}
}

// Setupf is Setup(fmt.Errorf(format, args...)).
func Setupf(format string, args ...any) error { return Setup(fmt.Errorf(format, args...)) }

// ExitCode maps a command's error to its exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var se *SetupError
	if errors.As(err, &se) {
		return ExitSetup
	}
	return ExitFailure
}

// Report writes err for a person on w, prefixed by the command's name, and
// returns the exit code.
func Report(w io.Writer, cmd string, err error) int {
	code := ExitCode(err)
	if err != nil {
		fmt.Fprintf(w, "%s: %v\n", cmd, err)
	}
	return code
}

// Parse parses args with fs, which must use flag.ContinueOnError, and turns
// a parse error into a setup error. -h gives flag.ErrHelp, unwrapped (exit
// code 0 for the caller to decide). Positional arguments are refused unless
// maxArgs allows them.
func Parse(fs *flag.FlagSet, args []string, maxArgs int) error {
	for _, a := range args {
		name := strings.TrimLeft(a, "-")
		if i := strings.IndexByte(name, '='); i >= 0 {
			name = name[:i]
		}
		if strings.HasPrefix(a, "-") && (name == "key" || name == "private-key" || name == "passphrase") {
			return Setupf("-%s: keys and passphrases are never taken on the command line (they would show in ps and shell history): set BTTSPEED_KEY, or -keystore with BTTSPEED_PASSPHRASE", name)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return Setup(err)
	}
	if fs.NArg() > maxArgs {
		return Setupf("unexpected arguments %q (flags go before the arguments)", fs.Args()[maxArgs:])
	}
	return nil
}

// LogFlags are the logging flags: -log-format and -log-level.
type LogFlags struct {
	Format string
	Level  string
}

// Register adds the flags to fs.
func (l *LogFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&l.Format, "log-format", "text", "log format on stderr: text or json")
	fs.StringVar(&l.Level, "log-level", "info", "log level: debug, info, warn or error")
}

// Logger returns the logger the flags describe, writing to w.
func (l LogFlags) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, Setupf("-log-level %q: want debug, info, warn or error", l.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.Format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, Setupf("-log-format %q: want text or json", l.Format)
}

// ParseBTT parses an amount of BTT: a decimal number of whole BTT with up
// to 18 decimals ("10", "0.25"), or base units with the suffix "base"
// ("2500000000000000000base"). name is the flag, for the error.
func ParseBTT(name, s string) (btt.Amount, error) {
	s = strings.TrimSpace(s)
	if base, ok := strings.CutSuffix(s, "base"); ok {
		a, err := btt.ParseAmount(strings.TrimSpace(base))
		if err != nil {
			return btt.Zero, Setupf("-%s %q: not a number of base units: %w", name, s, err)
		}
		return a, nil
	}
	a, err := btt.ParseBTT(s)
	if err != nil {
		return btt.Zero, Setupf("-%s %q: want an amount of BTT such as 10 or 0.25 (or base units as 1000base): %w", name, s, err)
	}
	return a, nil
}

// GiB is the unit of prices given as BTT/GiB.
const GiB = 1 << 30

// ParsePrice parses a price per byte. Two forms:
//
//   - an integer: base units (10^-18 BTT) per byte, exactly what the wire
//     carries — "931322574" is about 1 BTT per GiB;
//   - a decimal number of BTT followed by "/GiB" or "/MiB": "1.5/GiB" is
//     1.5 BTT per GiB, rounded down to base units per byte. A price that
//     rounds down to zero is refused.
//
// "0" is allowed (no reserve, no bid) only if allowZero.
func ParsePrice(name, s string, allowZero bool) (btt.Amount, error) {
	s = strings.TrimSpace(s)
	var unit uint64
	num := s
	switch {
	case strings.HasSuffix(strings.ToLower(s), "/gib"):
		unit, num = GiB, s[:len(s)-4]
	case strings.HasSuffix(strings.ToLower(s), "/mib"):
		unit, num = 1<<20, s[:len(s)-4]
	}
	var p btt.Amount
	if unit == 0 {
		a, err := btt.ParseAmount(num)
		if err != nil {
			return btt.Zero, Setupf("-%s %q: want base units per byte (an integer such as 931322574) or BTT per GiB (such as 1.5/GiB): %w", name, s, err)
		}
		p = a
	} else {
		total, err := btt.ParseBTT(strings.TrimSpace(num))
		if err != nil {
			return btt.Zero, Setupf("-%s %q: want BTT per GiB such as 1.5/GiB: %w", name, s, err)
		}
		p = total.DivUint64(unit)
		if p.IsZero() && !total.IsZero() {
			return btt.Zero, Setupf("-%s %q: under one base unit per byte; the smallest price is 1 (base unit per byte)", name, s)
		}
	}
	if p.IsZero() && !allowZero {
		return btt.Zero, Setupf("-%s: the price must be above zero", name)
	}
	return p, nil
}

// FormatPrice shows a price per byte as base units per byte and BTT per GiB.
func FormatPrice(p btt.Amount) string {
	perGiB, err := p.MulUint64(GiB)
	if err != nil {
		return p.String() + " base/B"
	}
	return fmt.Sprintf("%s base/B (%s BTT/GiB)", p, perGiB.FormatBTT())
}

// Float returns an amount in whole BTT as a float64, for metrics and
// displays only: never compute with it.
func Float(a btt.Amount) float64 {
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(a.Big()), big.NewFloat(1e18)).Float64()
	return f
}

// AddrList is a repeatable host:port flag (-peer).
type AddrList []netip.AddrPort

func (l *AddrList) String() string {
	parts := make([]string, len(*l))
	for i, a := range *l {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

// Set parses one or more comma-separated ip:port addresses.
func (l *AddrList) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		a, err := netip.ParseAddrPort(part)
		if err != nil {
			return fmt.Errorf("%q is not ip:port (such as 127.0.0.1:6881 or [::1]:6881)", part)
		}
		if a.Port() == 0 {
			return fmt.Errorf("%q: port 0", part)
		}
		*l = append(*l, a)
	}
	return nil
}

// StringList is a repeatable string flag (-tracker).
type StringList []string

func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set appends s.
func (l *StringList) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty value")
	}
	*l = append(*l, s)
	return nil
}

// ByteSize parses sizes such as 512KiB, 4MiB, 1GiB or a plain byte count.
func ByteSize(name, s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if v, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(v), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || (n > 0 && mult > 1 && n > (1<<62)/mult) {
		return 0, Setupf("-%s %q: want a size such as 512KiB, 4MiB or a number of bytes", name, s)
	}
	return n * mult, nil
}

// HumanBytes formats a byte count with a binary unit.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// Main runs a command's run function with the process's arguments,
// standard output and error and environment, under a context cancelled by
// SIGINT or SIGTERM (a second signal kills the process), and exits with
// the code it returns.
func Main[Env ~func(string) (string, bool)](run func(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv Env) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, Env(os.LookupEnv))
	stop()
	os.Exit(code)
}
