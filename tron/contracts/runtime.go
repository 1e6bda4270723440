package contracts

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// The escrow's runtime code as solc emits it (immutables zero) and where
// its immutables sit in it; compile.mjs writes both.
var (
	//go:embed artifacts/BttSpeedEscrow.runtime.bin
	escrowRuntimeHex string
	//go:embed artifacts/BttSpeedEscrow.immutables.json
	escrowImmutablesJSON string
)

// Bounds of BttSpeedEscrow's constructor and open/topUp, in seconds: the
// contract's MIN_CHALLENGE_PERIOD, MAX_CHALLENGE_PERIOD and MAX_LIFETIME.
const (
	EscrowMinChallengePeriod = 60
	EscrowMaxChallengePeriod = 30 * 86400
	EscrowMaxLifetime        = 365 * 86400
)

// Voucher digest schemes, BttSpeedEscrow's VoucherScheme enum
// (paychan.DigestScheme has the same values): the
// constructor's third argument, fixed for the escrow's life.
const (
	// SchemeTIP191: TRON's "\x19TRON Signed Message:\n32" hash of the
	// voucher's inner hash. TRON's escrows.
	SchemeTIP191 uint8 = 0
	// SchemeEIP712: EIP-712 typed data, domain "BttSpeed" version "1".
	// EVM chains' escrows (BTTC).
	SchemeEIP712 uint8 = 1
)

// EscrowParams are a BttSpeedEscrow's constructor arguments, which its
// runtime code holds as immutables.
type EscrowParams struct {
	// Token is the 20-byte EVM address of the TRC-20/ERC-20 token.
	Token [20]byte
	// ChallengePeriod is in seconds.
	ChallengePeriod uint64
	// Scheme is SchemeTIP191 or SchemeEIP712.
	Scheme uint8
}

// immutable is one immutable variable of a runtime code: the 32-byte
// words holding its value.
type immutable struct {
	Name   string   `json:"name"`
	Ranges [][2]int `json:"ranges"`
}

type escrowRuntimeInfo struct {
	code                  []byte
	token, period, scheme immutable
}

var escrowRuntime = sync.OnceValue(func() escrowRuntimeInfo {
	code := parseBin("BttSpeedEscrow runtime", escrowRuntimeHex)
	var imms []immutable
	if err := json.Unmarshal([]byte(escrowImmutablesJSON), &imms); err != nil {
		panic(fmt.Sprintf("contracts: embedded BttSpeedEscrow immutables: %v", err))
	}
	info := escrowRuntimeInfo{code: code}
	for _, im := range imms {
		for _, r := range im.Ranges {
			if r[1] != 32 || r[0] < 0 || r[0]+32 > len(code) {
				panic(fmt.Sprintf("contracts: embedded BttSpeedEscrow immutable %s: bad range %v", im.Name, r))
			}
		}
		switch im.Name {
		case "token":
			info.token = im
		case "challengePeriod":
			info.period = im
		case "voucherScheme":
			info.scheme = im
		default:
			panic("contracts: embedded BttSpeedEscrow has an unknown immutable " + im.Name)
		}
	}
	if len(info.token.Ranges) == 0 || len(info.period.Ranges) == 0 || len(info.scheme.Ranges) == 0 {
		panic("contracts: embedded BttSpeedEscrow immutables: token, challengePeriod or voucherScheme missing")
	}
	return info
})

// EscrowRuntime returns the runtime code a TRON BttSpeedEscrow
// (SchemeTIP191) constructed with token and challengePeriod has on chain:
// the embedded runtime code with its immutables filled in.
func EscrowRuntime(token [20]byte, challengePeriod uint64) []byte {
	return EscrowRuntimeFor(EscrowParams{Token: token, ChallengePeriod: challengePeriod, Scheme: SchemeTIP191})
}

// EscrowRuntimeFor returns the runtime code a BttSpeedEscrow constructed
// with p has on chain.
func EscrowRuntimeFor(p EscrowParams) []byte {
	info := escrowRuntime()
	code := slices.Clone(info.code)
	var tw, pw, sw [32]byte
	copy(tw[12:], p.Token[:])
	binary.BigEndian.PutUint64(pw[24:], p.ChallengePeriod)
	sw[31] = p.Scheme
	for _, im := range []struct {
		im immutable
		w  [32]byte
	}{{info.token, tw}, {info.period, pw}, {info.scheme, sw}} {
		for _, r := range im.im.Ranges {
			copy(code[r[0]:r[0]+32], im.w[:])
		}
	}
	return code
}

// ParseEscrowRuntime reports whether code is the runtime code of a TRON
// BttSpeedEscrow (SchemeTIP191) and, if it is, the token and challenge
// period its immutables hold. An escrow checking EIP-712 vouchers is not
// one: TRON clients sign TIP-191 digests. It says nothing of how the code
// was deployed: any contract may return this code from its constructor,
// with any immutables and storage.
func ParseEscrowRuntime(code []byte) (token [20]byte, challengePeriod uint64, ok bool) {
	p, ok := ParseEscrow(code)
	if !ok || p.Scheme != SchemeTIP191 {
		return [20]byte{}, 0, false
	}
	return p.Token, p.ChallengePeriod, true
}

// ParseEscrow reports whether code is BttSpeedEscrow's runtime code, of
// either scheme, and if it is, the constructor arguments its immutables
// hold. Like ParseEscrowRuntime it says nothing of how the code was
// deployed.
func ParseEscrow(code []byte) (EscrowParams, bool) {
	info := escrowRuntime()
	if len(code) != len(info.code) {
		return EscrowParams{}, false
	}
	// word is an immutable's value, if all its copies agree and it has no
	// bits above its type's width (in bytes).
	word := func(im immutable, width int) ([32]byte, bool) {
		w := [32]byte(code[im.Ranges[0][0]:])
		for _, r := range im.Ranges[1:] {
			if !bytes.Equal(code[r[0]:r[0]+32], w[:]) {
				return w, false
			}
		}
		for _, b := range w[:32-width] {
			if b != 0 {
				return w, false
			}
		}
		return w, true
	}
	tw, ok1 := word(info.token, 20)
	pw, ok2 := word(info.period, 8)
	sw, ok3 := word(info.scheme, 1)
	if !ok1 || !ok2 || !ok3 || (sw[31] != SchemeTIP191 && sw[31] != SchemeEIP712) {
		return EscrowParams{}, false
	}
	p := EscrowParams{Token: [20]byte(tw[12:]), ChallengePeriod: binary.BigEndian.Uint64(pw[24:]), Scheme: sw[31]}
	if !bytes.Equal(EscrowRuntimeFor(p), code) {
		return EscrowParams{}, false
	}
	return p, true
}
