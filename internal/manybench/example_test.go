package manybench_test

import (
	"fmt"

	"github.com/bttspeed/bttspeed/internal/manybench"
)

// Five downloaders in a window: two served equally, three not at all.
func ExampleJain() {
	j, err := manybench.Jain([]int64{300 << 20, 300 << 20, 0, 0, 0})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.2f\n", j)
	// Output: 0.40
}
