package tron

import (
	"context"
	"fmt"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
)

// MaxTxExpiration is the furthest after the head block a transaction the
// node builds may expire for the client to sign it. java-tron sets 60 s;
// a node that sets a day would freeze every later call of an Escrow for
// that day (nothing is signed while a sent transaction may still be
// included).
const MaxTxExpiration = 5 * time.Minute

// checkBuilt refuses to sign a transaction the node built with anything
// the client did not ask for beyond the contract the caller's own check
// compared: a memo (raw_data.data, paid for in bandwidth by the byte), a
// permission id other than the owner's (0), scripts or auths, or an
// expiration not after the head block or more than MaxTxExpiration after
// it. Every kind of transaction the client signs goes through it.
func (c *Client) checkBuilt(ctx context.Context, tx *core.Transaction) error {
	raw := tx.GetRawData()
	if raw == nil {
		return fmt.Errorf("%w: no transaction built", ErrBadResponse)
	}
	switch {
	case len(raw.GetData()) != 0:
		return fmt.Errorf("%w: the node put a memo of %d bytes in the transaction; not signing it", ErrBadResponse, len(raw.GetData()))
	case len(raw.GetScripts()) != 0, len(raw.GetAuths()) != 0:
		return fmt.Errorf("%w: the node put scripts or auths in the transaction; not signing it", ErrBadResponse)
	case len(tx.GetSignature()) != 0:
		return fmt.Errorf("%w: the node's transaction is already signed; not signing it", ErrBadResponse)
	}
	for _, ct := range raw.GetContract() {
		if ct.GetPermissionId() != 0 {
			return fmt.Errorf("%w: the node set permission id %d (not the owner's, 0); not signing it", ErrBadResponse, ct.GetPermissionId())
		}
		if len(ct.GetProvider()) != 0 || len(ct.GetContractName()) != 0 {
			return fmt.Errorf("%w: the node set a provider or contract name; not signing it", ErrBadResponse)
		}
	}
	head, err := c.Now(ctx)
	if err != nil {
		return err
	}
	exp := time.UnixMilli(raw.GetExpiration()).UTC()
	if !exp.After(head) || exp.Sub(head) > MaxTxExpiration {
		return fmt.Errorf("%w: the node's transaction expires at %s, the head block is at %s (at most %s after it); not signing it",
			ErrBadResponse, exp.Format(time.RFC3339), head.Format(time.RFC3339), MaxTxExpiration)
	}
	return nil
}
