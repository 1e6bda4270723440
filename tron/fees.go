package tron

import (
	"context"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/client"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bttspeed/bttspeed/btt"
)

// checkFees refuses a transaction the fee limit or the account's TRX
// cannot pay for, before anything is burnt.
func (c *Client) checkFees(ctx context.Context, from btt.Address, tx *core.Transaction, energy int64) error {
	ePrice := c.price(ctx, true)
	acc, err := c.account(ctx, from)
	if err != nil {
		return err
	}
	var res *api.AccountResourceMessage
	_ = c.rpc(ctx, "read resources of "+from.String(), func(ctx context.Context) error {
		var err error
		res, err = c.sdk.GetAccountResourceCtx(ctx, sdkAddr(from))
		if status.Code(err) == codes.Unimplemented {
			res, err = nil, nil
		}
		return err
	})
	// The energy limit must exceed what the simulation used: a CALL passes
	// on only 63/64 of what is left, so a limit of exactly the energy used
	// starves the inner call (the token transfer) and the transaction
	// reverts, fees burnt. A tenth more covers a few levels of calls.
	energy += energy / 10
	energyCost := energy * ePrice
	if res != nil {
		free := max(0, res.GetEnergyLimit()-res.GetEnergyUsed())
		energyCost = max(0, energy-free) * ePrice
	}
	if energyCost > c.cfg.FeeLimit {
		return &OutOfEnergyError{FeeLimit: c.cfg.FeeLimit, Need: energyCost}
	}
	// Bandwidth: the signed transaction plus the result TRON reserves
	// (64 bytes), paid from free and staked bandwidth first.
	size := int64(proto.Size(tx)) + 65 + 3 + 64
	var bwCost int64
	if res != nil {
		avail := max(0, res.GetFreeNetLimit()-res.GetFreeNetUsed()) + max(0, res.GetNetLimit()-res.GetNetUsed())
		if avail < size {
			bwCost = size * c.price(ctx, false)
		}
	}
	if need := energyCost + bwCost; need > acc.GetBalance() {
		return &InsufficientTRXError{Account: from.String(), Need: need, Have: acc.GetBalance()}
	}
	return nil
}

// price is the node's current energy (or bandwidth) price in sun, or the
// default when the node does not say.
func (c *Client) price(ctx context.Context, energy bool) int64 {
	i := 0
	if energy {
		i = 1
	}
	c.mu.Lock()
	p := c.prices[i]
	c.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < priceTTL {
		return p.sun
	}
	sun, ok := c.fetchPrice(ctx, energy)
	if ok {
		c.mu.Lock()
		c.prices[i] = cachedPrice{sun: sun, at: time.Now()}
		c.mu.Unlock()
	}
	return sun
}

// priceTTL is how long a price read from the node is used (they change by
// governance proposals, rarely).
const priceTTL = 10 * time.Minute

type cachedPrice struct {
	sun int64
	at  time.Time
}

// fetchPrice reads a price; ok is false when the node could not be asked
// (the default is then used but not remembered).
func (c *Client) fetchPrice(ctx context.Context, energy bool) (sun int64, ok bool) {
	def := int64(DefaultBandwidthPrice)
	if energy {
		def = DefaultEnergyPrice
	}
	var msg *api.PricesResponseMessage
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var err error
	if energy {
		msg, err = c.sdk.GetEnergyPricesCtx(rctx)
	} else {
		msg, err = c.sdk.GetBandwidthPricesCtx(rctx)
	}
	if err != nil {
		return def, !isTransient(err)
	}
	prices, err := client.ParsePrices(msg.GetPrices())
	if err != nil || len(prices) == 0 || prices[len(prices)-1].Price <= 0 {
		return def, true
	}
	return prices[len(prices)-1].Price, true
}
