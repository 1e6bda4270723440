package peer_test

import (
	"fmt"
	"log"

	"github.com/bttspeed/bttspeed/peer"
	"github.com/bttspeed/bttspeed/peer/discovery"
)

// A DHT node on the client's own port: TCP, uTP and the DHT answer on
// one number, the one the client announces.
func Example_dhtOnClientPort() {
	dht, err := discovery.NewDHT(discovery.DHTConfig{OnClientSocket: true})
	if err != nil {
		log.Fatal(err)
	}
	defer dht.Close()
	fmt.Println("before the client:", dht.Addr().IsValid())
	cl, err := peer.NewClient(peer.Config{
		ListenAddr: "127.0.0.1:0",
		Protocols:  peer.ProtocolTCP | peer.ProtocolUTP,
		DHT:        dht,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	fmt.Println("one port:", dht.Addr() == cl.Addr())
	// Output:
	// before the client: false
	// one port: true
}
