package market

import (
	"flag"
	"time"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

// StrategyFlags choose and parameterize the leecher's bid strategy.
type StrategyFlags struct {
	Name string
	// default
	SpendPermille uint64
	// fixed
	Price string
	// adaptive
	Start, Max     string
	Up, Down       uint64
	LowerAfter     int
	PacedDeadline  time.Duration
	PacedStepPerct uint64
}

// Register adds the flags to fs.
func (f *StrategyFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Name, "strategy", "default", "bid strategy: default (spend rate × balance / bytes left), fixed, adaptive or paced")
	fs.Uint64Var(&f.SpendPermille, "spend-permille", 1000, "default: spending rate in thousandths of the balance (1..1000)")
	fs.StringVar(&f.Price, "price", "", "fixed: the price per byte offered (base units per byte, or BTT per GiB as 1.5/GiB)")
	fs.StringVar(&f.Start, "start", "", "adaptive, paced: the opening bid (default: the seeder's reserve); same units as -price")
	fs.StringVar(&f.Max, "max-price", "", "adaptive: the highest bid (default: only the budget caps it); same units as -price")
	fs.Uint64Var(&f.Up, "raise-percent", 25, "adaptive: raise by this much after losing a round")
	fs.Uint64Var(&f.Down, "lower-percent", 10, "adaptive: lower by this much after -lower-after wins in a row")
	fs.IntVar(&f.LowerAfter, "lower-after", 3, "adaptive: wins in a row before lowering")
	fs.DurationVar(&f.PacedDeadline, "deadline", 0, "paced: finish within this long from the start (e.g. 10m)")
	fs.Uint64Var(&f.PacedStepPerct, "step-percent", 10, "paced: size of each bid adjustment")
}

// Strategy returns the strategy the flags describe; now anchors -deadline.
func (f StrategyFlags) Strategy(now time.Time) (bidding.Strategy, error) {
	optPrice := func(name, s string) (btt.Amount, error) {
		if s == "" {
			return btt.Zero, nil
		}
		return cli.ParsePrice(name, s, false)
	}
	switch f.Name {
	case "default":
		if f.SpendPermille == 0 || f.SpendPermille > 1000 {
			return nil, cli.Setupf("-spend-permille %d: want 1..1000", f.SpendPermille)
		}
		d, err := bidding.NewDefault(f.SpendPermille)
		if err != nil {
			return nil, cli.Setup(err)
		}
		return d, nil
	case "fixed":
		if f.Price == "" {
			return nil, cli.Setupf("-strategy fixed needs -price")
		}
		p, err := cli.ParsePrice("price", f.Price, false)
		if err != nil {
			return nil, err
		}
		return bidding.Fixed{Price: p}, nil
	case "adaptive":
		start, err := optPrice("start", f.Start)
		if err != nil {
			return nil, err
		}
		maxP, err := optPrice("max-price", f.Max)
		if err != nil {
			return nil, err
		}
		if !maxP.IsZero() && start.Gt(maxP) {
			return nil, cli.Setupf("-start %s is above -max-price %s", f.Start, f.Max)
		}
		if f.Up == 0 || f.Up > 1000 || f.Down > 100 || f.LowerAfter < 1 {
			return nil, cli.Setupf("adaptive: -raise-percent in 1..1000, -lower-percent in 0..100 and -lower-after at least 1 (got %d, %d, %d)", f.Up, f.Down, f.LowerAfter)
		}
		return bidding.Adaptive{Start: start, Max: maxP, UpPercent: f.Up, DownPercent: f.Down, LowerAfter: f.LowerAfter}, nil
	case "paced":
		if f.PacedDeadline <= 0 {
			return nil, cli.Setupf("-strategy paced needs -deadline, such as 10m")
		}
		start, err := optPrice("start", f.Start)
		if err != nil {
			return nil, err
		}
		if f.PacedStepPerct == 0 || f.PacedStepPerct > 100 {
			return nil, cli.Setupf("-step-percent %d: want 1..100", f.PacedStepPerct)
		}
		return bidding.Paced{Deadline: now.Add(f.PacedDeadline), Start: start, StepPercent: f.PacedStepPerct}, nil
	}
	return nil, cli.Setupf("-strategy %q: want default, fixed, adaptive or paced", f.Name)
}
