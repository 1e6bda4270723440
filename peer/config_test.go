package peer_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

// TestNewClientRefusesBadConfig: a setting that makes no sense is a
// configuration error (errors.Is ErrConfig), and no client starts.
func TestNewClientRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*peer.Config)
	}{
		{"negative close timeout", func(c *peer.Config) { c.CloseTimeout = -time.Second }},
		{"negative rechoke interval", func(c *peer.Config) { c.RechokeInterval = -time.Second }},
		{"negative request timeout", func(c *peer.Config) { c.RequestTimeout = -time.Second }},
		{"negative conns", func(c *peer.Config) { c.MaxConns = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := peer.Config{ListenAddr: "127.0.0.1:0"}
			tc.set(&cfg)
			cl, err := peer.NewClient(cfg)
			if cl != nil {
				cl.Close()
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, peer.ErrConfig)
		})
	}
}
