package peertest_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"

	"github.com/bttspeed/bttspeed/peer/peertest"
)

// Two hosts of an in-memory network: one listens, the other dials it.
// Give a peer.Config the Listener and the host's Dial to run a client on
// the network.
func ExampleNetwork() {
	n := peertest.NewNetwork()
	server, client := n.Host(), n.Host()
	ln, err := server.Listen(6881)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "hello %s", c.RemoteAddr())
	}()
	c, err := client.Dial(context.Background(), netip.MustParseAddrPort(ln.Addr().String()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ln.Addr(), string(b))
	// Output: 127.0.0.2:6881 hello 127.0.0.3:1024
}
