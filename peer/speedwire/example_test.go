package speedwire_test

import (
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/peer/speedwire"
)

// A seller answers a bid with an award: each side appends its message
// and type-switches on what Decode returns.
func Example() {
	b, err := speedwire.Bid{Price: btt.NewAmount(12)}.Append(nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", b)

	m, err := speedwire.Decode(b)
	if err != nil {
		panic(err)
	}
	switch m := m.(type) {
	case speedwire.Bid:
		award := speedwire.Award{Price: m.Price, Credit: 1 << 20}
		b, err = award.Append(b[:0])
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s\n", b)
	}

	_, err = speedwire.Award{Price: btt.NewAmount(1), Credit: -1}.Append(nil)
	fmt.Println(err)
	// Output:
	// d5:price2:121:t3:bide
	// d6:crediti1048576e5:price2:121:t5:awarde
	// speedwire: malformed btt_speed message: negative credit
}
