package discovery_test

import (
	"fmt"

	"github.com/bttspeed/bttspeed/peer/discovery"
)

// Tracker URLs go into logs and errors redacted: a private tracker's
// passkey stays out of them.
func ExampleRedactURL() {
	fmt.Println(discovery.RedactURL("https://tracker.example/announce?passkey=0123456789abcdef"))
	fmt.Println(discovery.RedactURL("http://tracker.example:6969/0123456789abcdef/announce"))
	fmt.Println(discovery.RedactURL("udp://tracker.example:1337/announce"))
	// Output:
	// https://tracker.example/announce?…
	// http://tracker.example:6969/…
	// udp://tracker.example:1337/announce
}
