package cli_test

import (
	"fmt"

	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

// Prices are per byte: base units, or BTT per GiB rounded down.
func ExampleParsePrice() {
	for _, s := range []string{"1000", "1/GiB", "0.5/MiB"} {
		p, err := cli.ParsePrice("reserve", s, false)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(s, "=", cli.FormatPrice(p))
	}
	_, err := cli.ParsePrice("reserve", "cheap", false)
	fmt.Println(cli.ExitCode(err))
	// Output:
	// 1000 = 1000 base/B (0.000001073741824 BTT/GiB)
	// 1/GiB = 931322574 base/B (0.999999999339134976 BTT/GiB)
	// 0.5/MiB = 476837158203 base/B (511.999999999865782272 BTT/GiB)
	// 2
}
