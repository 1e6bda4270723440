package speed_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/bidding"
	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/choker"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/peer/speed"
)

// TestNewChecksSeller: New fills a seller's defaults — in its own copy,
// never the caller's — and refuses settings that make no sense, with an
// error that says which.
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
			given := *s
			ext, err := speed.New(speed.Config{Sell: s})
			assert.Equal(t, given, *s, "the caller's Seller is not written to")
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			got, ok := ext.SellerConfig()
			require.True(t, ok)
			assert.Equal(t, int64(256<<10), got.CreditStart)
			assert.Equal(t, int64(256<<20), got.CreditMax)
			if tc.name == "defaults" {
				assert.Equal(t, int64(paychan.DefaultCreditGrowth), got.CreditGrowth)
			}
			_, ok = ext.BuyerConfig()
			assert.False(t, ok)
		})
	}
}

// TestPolicyReserveIsTheAsk: the auction the extension hands out has the
// seller's ask as its reserve; a different reserve is refused, and an
// extension that does not sell has no auction to give.
func TestPolicyReserveIsTheAsk(t *testing.T) {
	self := btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4")
	ask := btt.NewAmount(1000)
	ext, err := speed.New(speed.Config{Sell: &speed.Seller{Payee: new(paychan.Payee), Self: self, Ask: ask}})
	require.NoError(t, err)
	p, err := ext.Policy(choker.BidDrivenConfig{Slots: 3})()
	require.NoError(t, err)
	bd, ok := p.(*choker.BidDriven)
	require.True(t, ok)
	assert.Equal(t, ask, bd.Reserve())
	_, err = ext.Policy(choker.BidDrivenConfig{Reserve: btt.NewAmount(999)})()
	assert.ErrorContains(t, err, "differs from the seller's ask")
	p, err = ext.Policy(choker.BidDrivenConfig{Reserve: ask})()
	require.NoError(t, err, "the same reserve is fine")
	assert.NotNil(t, p)

	buyOnly, err := speed.New(speed.Config{Buy: &speed.Buyer{Payer: new(paychan.Payer), Strategy: bidding.Default{}, Budget: btt.BTT(1)}})
	require.NoError(t, err)
	_, err = buyOnly.Policy(choker.BidDrivenConfig{})()
	assert.ErrorContains(t, err, "does not sell")
	assert.True(t, buyOnly.Spent().IsZero())
	assert.Nil(t, buyOnly.Sales())
}
