package evmescrow

import (
	"context"
	"errors"
	"fmt"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
)

// ErrScanBound: more channels were opened on the escrow since an
// intent's mark than a scan may read.
var ErrScanBound = errors.New("too many channels to read")

// ScanBounds checks that the nonces from mark to last, the channels opened
// on the escrow by anyone since an intent's mark, are at most max. A last
// below mark is an empty range.
func ScanBounds(mark, last, max uint64) error {
	if last >= mark && last-mark >= max {
		return fmt.Errorf("%w: %d channels were opened since nonce %d, more than %d to read", ErrScanBound, last-mark+1, mark, max)
	}
	return nil
}

// Matches reports whether ch is the channel in describes, opened by self:
// its payer, payee and expiry (to the second, as the contract holds it).
func Matches(ch paychan.Channel, self btt.Address, in paychan.Intent) bool {
	return ch.Payer == self && ch.Payee == in.Payee && ch.Expiry.Unix() == in.Expiry.Unix()
}

// ScanNonces looks for the channel of intent in among the nonces from
// in.Mark to last (at most max, ScanBounds): for each it reads, through
// read, the channel self would have opened to in.Payee with it (ChannelID
// at escrow). An id known reports, and one read says is
// paychan.ErrUnknownChannel — another account's channel — are passed over;
// the first that Matches is returned. Any other error of read ends the
// scan: the intent is then neither found nor proven absent.
func ScanNonces(ctx context.Context, escrow, self btt.Address, in paychan.Intent, last, max uint64,
	known func(paychan.ChannelID) bool, read func(context.Context, paychan.ChannelID) (paychan.Channel, error)) (paychan.Channel, bool, error) {
	if err := ScanBounds(in.Mark, last, max); err != nil {
		return paychan.Channel{}, false, err
	}
	if last < in.Mark {
		return paychan.Channel{}, false, nil
	}
	// Counted from the mark, so that a last of 2^64-1 ends too.
	for i := uint64(0); i <= last-in.Mark; i++ {
		id := ChannelID(escrow, self, in.Payee, in.Mark+i)
		if known != nil && known(id) {
			continue
		}
		ch, err := read(ctx, id)
		if errors.Is(err, paychan.ErrUnknownChannel) {
			continue // someone else's channel
		}
		if err != nil {
			return paychan.Channel{}, false, err
		}
		if Matches(ch, self, in) {
			return ch, true, nil
		}
	}
	return paychan.Channel{}, false, nil
}
