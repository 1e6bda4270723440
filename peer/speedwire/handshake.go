package speedwire

import (
	"fmt"

	"github.com/anacrolix/torrent/bencode"

	"github.com/bttspeed/bttspeed/btt"
)

// Handshake is what a btt_speed peer adds to its extended handshake, under
// keys prefixed "bs_".
type Handshake struct {
	Version int
	ChainID uint64
	Token   btt.Address
	Escrow  btt.Address
	// Payee is where a seeder is paid (zero for a peer that only buys).
	Payee btt.Address
	// Ask is the seeder's reserve price per byte (zero if it sells
	// nothing).
	Ask btt.Amount
}

// Keys returns the handshake's keys for the extended handshake dict.
func (h Handshake) Keys() map[string]any {
	m := map[string]any{
		"bs_version": h.Version,
		"bs_chain":   int64(h.ChainID),
		"bs_escrow":  string(h.Escrow[:]),
		"bs_ask":     h.Ask.String(),
	}
	if !h.Token.IsZero() {
		m["bs_token"] = string(h.Token[:])
	}
	if !h.Payee.IsZero() {
		m["bs_payee"] = string(h.Payee[:])
	}
	return m
}

// ParseHandshake reads the btt_speed keys of a peer's extended handshake
// (the whole dict, raw values as the engine hands them over).
func ParseHandshake(raw map[string]bencode.Bytes) (Handshake, error) {
	var h Handshake
	var chain int64
	var token, escrow, payee, ask string
	fields := []struct {
		key      string
		dst      any
		required bool
	}{
		{"bs_version", &h.Version, true}, {"bs_chain", &chain, true}, {"bs_token", &token, false},
		{"bs_escrow", &escrow, true}, {"bs_ask", &ask, true}, {"bs_payee", &payee, false},
	}
	for _, f := range fields {
		b, ok := raw[f.key]
		if !ok {
			if f.required {
				return h, fmt.Errorf("%w: handshake lacks %s", ErrMalformed, f.key)
			}
			continue
		}
		if len(b) > 256 {
			return h, fmt.Errorf("%w: handshake %s too long", ErrMalformed, f.key)
		}
		if err := bencode.Unmarshal(b, f.dst); err != nil {
			return h, fmt.Errorf("%w: handshake %s: %v", ErrMalformed, f.key, err)
		}
	}
	if h.Version < 1 {
		return h, fmt.Errorf("%w: version %d", ErrMalformed, h.Version)
	}
	if chain < 0 {
		return h, fmt.Errorf("%w: chain id %d", ErrMalformed, chain)
	}
	h.ChainID = uint64(chain)
	var err error
	if token != "" {
		if h.Token, err = btt.AddressFromBytes([]byte(token)); err != nil {
			return h, fmt.Errorf("%w: token: %v", ErrMalformed, err)
		}
	}
	if h.Escrow, err = btt.AddressFromBytes([]byte(escrow)); err != nil {
		return h, fmt.Errorf("%w: escrow: %v", ErrMalformed, err)
	}
	if payee != "" {
		if h.Payee, err = btt.AddressFromBytes([]byte(payee)); err != nil {
			return h, fmt.Errorf("%w: payee: %v", ErrMalformed, err)
		}
	}
	if h.Ask, err = parsePrice(ask); err != nil {
		return h, fmt.Errorf("%w: ask: %v", ErrMalformed, err)
	}
	return h, nil
}
