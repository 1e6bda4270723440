package bttc

import (
	"context"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/internal/evmescrow"
	"github.com/bttspeed/bttspeed/paychan"
)

// calls are the escrow's paychan.Escrow calls, the same logic as tron's
// (evmescrow.Calls) over this package's transport.
func (e *Escrow) calls() *evmescrow.Calls[*Receipt] {
	return &evmescrow.Calls[*Receipt]{
		Chain:           (*chainOps)(e),
		Codec:           escrowCodec,
		Address:         e.addr,
		Name:            "bttc",
		Escrow:          e.String(),
		NoSigner:        ErrNoSigner,
		InvalidArgument: ErrInvalidArgument,
		ExpiryTooFar:    ErrExpiryTooFar,
		ChainIDVerb:     "%d",
		CheckScheme:     true,
	}
}

// chainOps is an Escrow as evmescrow.Calls drives it.
type chainOps Escrow

var _ evmescrow.Chain[*Receipt] = (*chainOps)(nil)

func (o *chainOps) e() *Escrow        { return (*Escrow)(o) }
func (o *chainOps) Self() btt.Address { return o.c.Address() }
func (o *chainOps) Domain(ctx context.Context) (paychan.Domain, error) {
	return o.e().Domain(ctx)
}
func (o *chainOps) Now(ctx context.Context) (time.Time, error) { return o.c.Now(ctx) }
func (o *chainOps) View(ctx context.Context, method string, args ...any) ([]any, error) {
	return o.c.callABI(ctx, o.addr, o.abi, method, args...)
}
func (o *chainOps) Owed(data []byte) bool { return o.e().owed(&o.addr, data) }
func (o *chainOps) Fund(ctx context.Context, token btt.Address, amount btt.Amount) error {
	return o.e().fund(ctx, token, amount)
}
func (o *chainOps) Transact(ctx context.Context, data []byte) (*Receipt, error) {
	return o.e().transact(ctx, &o.addr, data)
}
func (o *chainOps) Failed(ctx context.Context, op string, token btt.Address, amount btt.Amount, err error) error {
	return o.e().fail(ctx, op, token, amount, err)
}
func (o *chainOps) Opened(r *Receipt) (paychan.Channel, error) { return o.e().opened(r) }
func (o *chainOps) TxName(r *Receipt) string                   { return r.TxHash.Hex() }
