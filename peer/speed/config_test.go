package speed_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// TestNewChecksSeller: New fills a seller's defaults and refuses settings
// that make no sense, with an error that says which.
func TestNewChecksSeller(t *testing.T) {
	self := btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")
	for _, tc := range []struct {
		name    string
		set     func(s *speed.Seller)
		wantErr string // empty: accepted
	}{
		{name: "defaults", set: func(*speed.Seller) {}},
		{name: "64-fold growth", set: func(s *speed.Seller) { s.CreditGrowth = 64 }},
		{name: "no payee", set: func(s *speed.Seller) { s.Payee = nil }, wantErr: "needs a Payee"},
		{name: "growth of one", set: func(s *speed.Seller) { s.CreditGrowth = 1 }, wantErr: "credit growth 1"},
		{name: "negative growth", set: func(s *speed.Seller) { s.CreditGrowth = -4 }, wantErr: "credit growth -4"},
		{name: "max below start", set: func(s *speed.Seller) { s.CreditStart, s.CreditMax = 1<<20, 1<<10 }, wantErr: "credit window 1048576..1024"},
		{name: "negative pay timeout", set: func(s *speed.Seller) { s.PayTimeout = -time.Second }, wantErr: "negative timeout (PayTimeout -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &speed.Seller{Payee: new(paychan.Payee), Self: self, Ask: btt.NewAmount(1)}
			tc.set(s)
			_, err := speed.New(speed.Config{Sell: s})
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, int64(256<<10), s.CreditStart)
			assert.Equal(t, int64(256<<20), s.CreditMax)
			if tc.name == "defaults" {
				assert.Equal(t, int64(paychan.DefaultCreditGrowth), s.CreditGrowth)
			}
		})
	}
}
