package tron

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/api"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"

	"github.com/bttspeed/bttspeed/btt"
)

// TransferTRX sends sun (1 TRX = 1,000,000 sun) to `to` and returns the
// receipt. Sending to a new account creates it (the chain charges a fee
// for that on top).
func (c *Client) TransferTRX(ctx context.Context, to btt.Address, sun int64) (*Receipt, error) {
	if c.signer == nil {
		return nil, ErrNoSigner
	}
	if sun <= 0 {
		return nil, fmt.Errorf("tron: send TRX: %w: amount %d sun", ErrInvalidArgument, sun)
	}
	if to.IsZero() {
		return nil, fmt.Errorf("tron: send TRX: %w: zero address", btt.ErrBadAddress)
	}
	from := c.signer.Address()
	var ext *api.TransactionExtention
	err := c.rpc(ctx, "build a TRX transfer", func(ctx context.Context) error {
		var err error
		ext, err = c.sdk.TransferCtx(ctx, sdkAddr(from), sdkAddr(to), sun)
		return refused(err)
	})
	if err != nil {
		var rej *TxRejectedError
		if errors.As(err, &rej) && strings.Contains(strings.ToLower(rej.Message), "balance is not sufficient") {
			return nil, &InsufficientTRXError{Account: from.String(), Detail: rej.Message}
		}
		return nil, fmt.Errorf("tron: send %s to %s: %w", formatSun(sun), to, err)
	}
	if err := checkTransfer(ext, from, to, sun); err != nil {
		return nil, err
	}
	if err := c.checkBuilt(ctx, ext.GetTransaction()); err != nil {
		return nil, err
	}
	tx, err := c.sign(ext.GetTransaction())
	if err != nil {
		return nil, err
	}
	if err := c.broadcast(ctx, tx); err != nil {
		return nil, fmt.Errorf("tron: send %s to %s: %w", formatSun(sun), to, err)
	}
	r, err := c.Confirm(ctx, tx)
	if err != nil {
		return r, fmt.Errorf("tron: send %s to %s: %w", formatSun(sun), to, err)
	}
	return r, nil
}

func checkTransfer(ext *api.TransactionExtention, from, to btt.Address, sun int64) error {
	if ext == nil || ext.GetTransaction().GetRawData() == nil {
		return fmt.Errorf("%w: no transfer built", ErrBadResponse)
	}
	raw := ext.GetTransaction().GetRawData()
	if len(raw.GetContract()) != 1 || raw.GetContract()[0].GetType() != core.Transaction_Contract_TransferContract {
		return fmt.Errorf("%w: the node built something other than one TRX transfer", ErrBadResponse)
	}
	var ct core.TransferContract
	if err := raw.GetContract()[0].GetParameter().UnmarshalTo(&ct); err != nil {
		return fmt.Errorf("%w: transfer: %v", ErrBadResponse, err)
	}
	if !bytes.Equal(ct.GetOwnerAddress(), from[:]) || !bytes.Equal(ct.GetToAddress(), to[:]) || ct.GetAmount() != sun {
		return fmt.Errorf("%w: the node built a transfer other than the one asked for; not signing it", ErrBadResponse)
	}
	return nil
}
