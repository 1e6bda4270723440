package market

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/chain"
	"github.com/bttspeed/bttspeed/paychan"
)

// ReclaimResult is what reclaiming a state directory's channels did.
type ReclaimResult struct {
	// Back is what the escrow refunded now, by the channels' figures.
	Back btt.Amount
	// Reclaimed counts the channels refunded now; Waiting those not
	// expired yet; Settled those already closed (by the payee's close,
	// which refunded the rest then, or an earlier reclaim).
	Reclaimed, Waiting, Settled int
	// BalanceBefore and BalanceAfter are the account's token balance.
	BalanceBefore, BalanceAfter btt.Amount
}

// Reclaim takes back, for every channel in the state directory's payer
// store that has expired (or whose early close's challenge window is over), the
// part of its deposit the payee did not redeem, and writes a line per
// channel to out. Channels a run that died while opening them did not
// record are found on chain first (ResolveIntents).
func Reclaim(ctx context.Context, c *chain.Chain, stateDir string, out io.Writer) (ReclaimResult, error) {
	var res ReclaimResult
	if err := OpenState(stateDir, c.Domain, c.Account()); err != nil {
		return res, err
	}
	st, err := openStore(stateDir, "payer.db")
	if err != nil {
		return res, err
	}
	defer st.Close()
	if err := importJournal(stateDir, st, c.Account(), slog.New(slog.DiscardHandler)); err != nil {
		return res, err
	}
	payer, err := paychan.NewPayer(ctx, st, c.Escrow, c.Signer)
	if err != nil {
		return res, err
	}
	// A run that died while opening a channel left an intent: find the
	// channel on chain so that it is reclaimed too.
	var firstErr error
	found, err := payer.ResolveIntents(ctx)
	if err != nil {
		fmt.Fprintf(out, "looking for channels an interrupted run was opening: %v\n", err)
		firstErr = err
	}
	for _, ch := range found {
		fmt.Fprintf(out, "channel %s: found on chain: a run that stopped while opening it had not recorded it\n", hex.EncodeToString(ch.ID[:]))
	}
	recs, err := payer.Channels()
	if err != nil {
		return res, err
	}
	if ins, err := payer.Intents(); err == nil && len(ins) > 0 {
		fmt.Fprintf(out, "%d channel opens have an unknown outcome still: run reclaim again later to find them\n", len(ins))
	}
	if res.BalanceBefore, err = c.Client.BalanceOf(ctx, c.Domain.Token, c.Account()); err != nil {
		return res, err
	}
	now, err := c.Escrow.Now(ctx)
	if err != nil {
		return res, err
	}
	if len(recs) == 0 {
		fmt.Fprintf(out, "no channels in %s: nothing to reclaim\n", stateDir)
	}
	for _, r := range recs {
		id := hex.EncodeToString(r.Channel.ID[:])
		ch, err := c.Escrow.Channel(ctx, r.Channel.ID)
		if err != nil {
			fmt.Fprintf(out, "channel %s: %v\n", id, err)
			firstErr = cmpErr(firstErr, err)
			continue
		}
		switch {
		case ch.State == paychan.ChannelClosed:
			res.Settled++
			fmt.Fprintf(out, "channel %s: already settled (payee redeemed %s BTT of %s)\n", id, ch.Paid.FormatBTT(), ch.Deposit.FormatBTT())
			continue
		case ch.State == paychan.ChannelOpen && now.Before(ch.Expiry):
			res.Waiting++
			fmt.Fprintf(out, "channel %s: not expired: reclaimable after %s (chain time now %s)\n", id, ch.Expiry.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
			continue
		case ch.State == paychan.ChannelClosing && now.Before(ch.ChallengeEnd):
			res.Waiting++
			fmt.Fprintf(out, "channel %s: closing: reclaimable after %s\n", id, ch.ChallengeEnd.UTC().Format(time.RFC3339))
			continue
		}
		back := ch.Deposit.SubFloor(ch.Paid)
		if _, err := payer.Reclaim(ctx, r.Channel.ID); err != nil {
			fmt.Fprintf(out, "channel %s: reclaim failed: %v\n", id, err)
			firstErr = cmpErr(firstErr, err)
			continue
		}
		res.Reclaimed++
		res.Back, _ = res.Back.Add(back)
		fmt.Fprintf(out, "channel %s: reclaimed %s BTT (%s base units) of the %s BTT deposit; the payee redeemed %s BTT\n", id, back.FormatBTT(), back, ch.Deposit.FormatBTT(), ch.Paid.FormatBTT())
	}
	if res.BalanceAfter, err = c.Client.BalanceOf(ctx, c.Domain.Token, c.Account()); err != nil {
		return res, cmpErr(firstErr, err)
	}
	return res, firstErr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
