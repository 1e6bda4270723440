package evmescrow_test

import (
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
)

// A deposit of 10 with an allowance of 3: under ApproveExact the escrow
// is approved for the deposit; under ApproveNever the open is refused
// with the shortfall, before anything is sent.
func ExampleFunding_Plan() {
	f := evmescrow.Funding{Amount: btt.NewAmount(10), Balance: btt.NewAmount(50), Allowance: btt.NewAmount(3)}
	approve, err := f.Plan()
	fmt.Println(approve, err)
	f.Policy = evmescrow.ApproveNever
	_, err = f.Plan()
	fmt.Println(err != nil)
	// Output:
	// 10 <nil>
	// true
}

// Nonces 5 to 4,100 are 4,096 channels: a scan bounded at 4,096 reads
// them, one more is refused.
func ExampleScanBounds() {
	fmt.Println(evmescrow.ScanBounds(5, 4100, 4096))
	fmt.Println(evmescrow.ScanBounds(5, 4101, 4096))
	// Output:
	// <nil>
	// too many channels to read: 4097 channels were opened since nonce 5, more than 4096 to read
}
