package choker

import (
	"fmt"
	"testing"
	"time"
)

func BenchmarkRechoke(b *testing.B) {
	policies := []struct {
		name string
		new  func() Policy
	}{
		{"TitForTat", func() Policy { p, _ := NewTitForTat(TitForTatConfig{}); return p }},
		{"BidDriven", func() Policy { p, _ := NewBidDriven(BidDrivenConfig{}); return p }},
		{"PropShare", func() Policy { p, _ := NewPropShare(PropShareConfig{}); return p }},
		{"RoundRobin", func() Policy { p, _ := NewRoundRobin(SeedConfig{}); return p }},
		{"AntiLeech", func() Policy { p, _ := NewAntiLeech(SeedConfig{}); return p }},
	}
	for _, pol := range policies {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("policy=%s/peers=%d", pol.name, n), func(b *testing.B) {
				peers := randomPeers(seeded(1), n)
				s := Snapshot{Size: 1 << 20, Peers: peers}
				p := pol.new()
				now := t0
				p.Rechoke(now, s) // warm the policy's buffers
				b.ReportAllocs()
				for b.Loop() {
					now = now.Add(10 * time.Second)
					p.Rechoke(now, s)
				}
			})
		}
	}
}
