package market

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/paychan"
)

// IntentTTL is how old an intent with no channel on chain must be before
// it is dropped: an open transaction not mined by then never will be
// (TRON transactions expire 60 s after the block they reference).
const IntentTTL = 10 * time.Minute

// maxIntentScan bounds the channel nonces one intent's search reads.
const maxIntentScan = 100_000

// nonceSelector is BttSpeedEscrow's nonce() selector.
var nonceSelector = crypto.Keccak256([]byte("nonce()"))[:4]

// escrowNonce reads BttSpeedEscrow.nonce(): the number of channels the
// escrow has opened, the last one's nonce.
func escrowNonce(ctx context.Context, c *chain.Chain) (uint64, error) {
	out, err := c.Client.Call(ctx, c.Domain.Escrow, nonceSelector)
	if err != nil {
		return 0, fmt.Errorf("escrow nonce(): %w", err)
	}
	if len(out) != 32 {
		return 0, fmt.Errorf("escrow nonce(): %d bytes, want 32", len(out))
	}
	for _, b := range out[:24] {
		if b != 0 {
			return 0, fmt.Errorf("escrow nonce(): %x is not a uint64", out)
		}
	}
	return binary.BigEndian.Uint64(out[24:]), nil
}

// ChannelID is the id BttSpeedEscrow.open gives the nonce-th channel, if
// payer opened it to payee: keccak256(abi.encodePacked(escrow, payer,
// payee, uint64 nonce)).
func ChannelID(escrow, payer, payee btt.Address, nonce uint64) paychan.ChannelID {
	e, p, q := escrow.EVM(), payer.EVM(), payee.EVM()
	var id paychan.ChannelID
	copy(id[:], crypto.Keccak256(e[:], p[:], q[:], binary.BigEndian.AppendUint64(nil, nonce)))
	return id
}

// ResolveIntents looks on chain for the channels of the journal's intents
// (opens sent by a run that died before recording their outcome): for
// each, the first channel from its nonce on that this account opened to
// its payee, with its expiry, and that the journal does not list yet is
// recorded in its place. An intent older than IntentTTL without one is
// dropped: that open never happened. It returns the channels found.
func ResolveIntents(ctx context.Context, c *chain.Chain, j *Journal, log *slog.Logger) ([]paychan.Channel, error) {
	ins, err := j.Intents()
	if err != nil || len(ins) == 0 {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	last, err := escrowNonce(ctx, c)
	if err != nil {
		return nil, err
	}
	var found []paychan.Channel
	for _, in := range ins {
		es, err := j.Entries()
		if err != nil {
			return found, err
		}
		known := make(map[paychan.ChannelID]bool, len(es))
		for _, e := range es {
			known[e.ID] = true
		}
		var ch *paychan.Channel
		for n := in.FromNonce; n <= last && n < in.FromNonce+maxIntentScan; n++ {
			id := ChannelID(c.Domain.Escrow, c.Account(), in.Payee, n)
			if known[id] {
				continue
			}
			got, err := c.Escrow.Channel(ctx, id)
			if err != nil {
				return found, fmt.Errorf("looking for the channel of an interrupted open: %w", err)
			}
			if got.State != paychan.ChannelUnknown && got.Payer == c.Account() && got.Payee == in.Payee && got.Expiry.Unix() == in.Expiry.Unix() {
				ch = &got
				break
			}
		}
		switch {
		case ch != nil:
			if err := j.Resolve(in, ch); err != nil {
				return found, err
			}
			found = append(found, *ch)
			log.Warn("found a channel an earlier run opened and did not record (it stopped while opening it): recorded now, reclaimable after expiry",
				"channel", hex.EncodeToString(ch.ID[:]), "payee", ch.Payee, "deposit_btt", ch.Deposit.FormatBTT(), "expiry", ch.Expiry.UTC().Format(time.RFC3339))
		case time.Since(in.At) > IntentTTL:
			if err := j.Resolve(in, nil); err != nil {
				return found, err
			}
			log.Info("an interrupted channel open never reached the chain: forgotten", "payee", in.Payee, "deposit_btt", in.Deposit.FormatBTT())
		}
	}
	return found, nil
}
