package evmescrow

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/paychan"
)

var (
	errNotPayer          = errors.New("not payer")
	errNotOwner          = errors.New("not owner")
	errNotExpired        = errors.New("not expired")
	errExpiryShortened   = errors.New("expiry shortened")
	errExpiryTooFar      = errors.New("expiry too far")
	errChallengePeriod   = errors.New("challenge period")
	errInvalidArgument   = errors.New("invalid argument")
	errTokenTransfer     = Sentinel("token transfer", paychan.ErrTokenRefused)
	errNothingToWithdraw = errors.New("nothing to withdraw")
	errInsufficientToken = errors.New("insufficient token")
	errBad               = errors.New("bad response")
)

var testKinds = Kinds{
	NotPayer: errNotPayer, NotOwner: errNotOwner, NotExpired: errNotExpired,
	ExpiryShortened: errExpiryShortened, ExpiryTooFar: errExpiryTooFar, ChallengePeriod: errChallengePeriod,
	InvalidArgument: errInvalidArgument, TokenTransfer: errTokenTransfer,
	NothingToWithdraw: errNothingToWithdraw, InsufficientToken: errInsufficientToken,
}

func TestReverts(t *testing.T) {
	r := NewReverts(testKinds, map[string]string{"escrow: not expired": "wait, chain's way", "no such reason": "x"})
	for _, tc := range []struct {
		reason string
		want   error
	}{
		{"escrow: unknown channel", paychan.ErrUnknownChannel},
		{"escrow: channel closed", paychan.ErrChannelClosed},
		{"escrow: channel not open", paychan.ErrChannelClosed},
		{"escrow: redeem window over", paychan.ErrExpired},
		{"escrow: expiry in the past", paychan.ErrExpired},
		{"escrow: over deposit", paychan.ErrOverDeposit},
		{"escrow: bad signature", paychan.ErrBadSignature},
		{"escrow: not increasing", paychan.ErrNotIncreasing},
		{"escrow: not payee", paychan.ErrWrongPayee},
		{"escrow: not payer", errNotPayer},
		{"escrow: zero deposit", errInvalidArgument},
		{"escrow: bad payee", errInvalidArgument},
		{"escrow: expiry may only extend", errExpiryShortened},
		{"escrow: expiry too far", errExpiryTooFar},
		{"escrow: bad challenge period", errChallengePeriod},
		{"escrow: not expired", errNotExpired},
		{"escrow: token transfer failed", errTokenTransfer},
		{"escrow: nothing to withdraw", errNothingToWithdraw},
		{"token: insufficient balance", errInsufficientToken},
		{"token: insufficient allowance", errInsufficientToken},
		{"token: not owner", errNotOwner},
		{"token: zero address", errInvalidArgument},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			assert.Equal(t, tc.want, r.Kind(tc.reason))
			msg := r.Message("chain", "ab", tc.reason)
			assert.True(t, strings.HasPrefix(msg, `chain: contract reverted transaction ab: "`+tc.reason+`": `), msg)
			assert.NotEmpty(t, r[tc.reason].Hint)
			assert.True(t, strings.HasSuffix(msg, r[tc.reason].Hint), msg)
		})
	}
	assert.Len(t, r, 22, "every reason is in the table above, and no hint override adds one")
	assert.Equal(t, "wait, chain's way", r["escrow: not expired"].Hint, "an override replaces the hint")
	assert.ErrorIs(t, r.Kind("escrow: token transfer failed"), paychan.ErrTokenRefused)
	assert.Nil(t, r.Kind("something else"))
	assert.Equal(t, `chain: contract reverted: "something else"`, r.Message("chain", "", "something else"))
	assert.Equal(t, "chain: contract reverted transaction ab without a reason", r.Message("chain", "ab", ""))

	// Every revert string of the contract's source is mapped.
	src, err := os.ReadFile(filepath.Join("..", "..", "tron", "contracts", "BttSpeedEscrow.sol"))
	require.NoError(t, err)
	for _, part := range strings.Split(string(src), `"escrow: `)[1:] {
		reason := "escrow: " + part[:strings.IndexByte(part, '"')]
		if reason == "escrow: reentrant call" || strings.HasSuffix(reason, "...") {
			continue // only a malicious token gets there; a comment
		}
		assert.Contains(t, r, reason, "revert reason %q of the contract is not mapped", reason)
	}
}

func TestSentinel(t *testing.T) {
	err := Sentinel("chain: token transfer failed", paychan.ErrTokenRefused)
	assert.EqualError(t, err, "chain: token transfer failed")
	assert.ErrorIs(t, err, paychan.ErrTokenRefused)
	assert.NotErrorIs(t, err, paychan.ErrExpired)
}
