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

// immutable is one immutable variable of a runtime code: the 32-byte
// words holding its value.
type immutable struct {
	Name   string   `json:"name"`
	Ranges [][2]int `json:"ranges"`
}

type escrowRuntimeInfo struct {
	code          []byte
	token, period immutable
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
		default:
			panic("contracts: embedded BttSpeedEscrow has an unknown immutable " + im.Name)
		}
	}
	if len(info.token.Ranges) == 0 || len(info.period.Ranges) == 0 {
		panic("contracts: embedded BttSpeedEscrow immutables: token or challengePeriod missing")
	}
	return info
})

// EscrowRuntime returns the runtime code a BttSpeedEscrow constructed with
// token and challengePeriod has on chain: the embedded runtime code with
// its immutables filled in.
func EscrowRuntime(token [20]byte, challengePeriod uint64) []byte {
	info := escrowRuntime()
	code := slices.Clone(info.code)
	var tw, pw [32]byte
	copy(tw[12:], token[:])
	binary.BigEndian.PutUint64(pw[24:], challengePeriod)
	for _, r := range info.token.Ranges {
		copy(code[r[0]:r[0]+32], tw[:])
	}
	for _, r := range info.period.Ranges {
		copy(code[r[0]:r[0]+32], pw[:])
	}
	return code
}

// ParseEscrowRuntime reports whether code is BttSpeedEscrow's runtime code
// and, if it is, the token and challenge period its immutables hold. It
// says nothing of how the code was deployed: any contract may return this
// code from its constructor, with any immutables and storage.
func ParseEscrowRuntime(code []byte) (token [20]byte, challengePeriod uint64, ok bool) {
	info := escrowRuntime()
	if len(code) != len(info.code) {
		return token, 0, false
	}
	word := func(im immutable) ([32]byte, bool) {
		w := [32]byte(code[im.Ranges[0][0]:])
		for _, r := range im.Ranges[1:] {
			if !bytes.Equal(code[r[0]:r[0]+32], w[:]) {
				return w, false
			}
		}
		return w, true
	}
	tw, ok1 := word(info.token)
	pw, ok2 := word(info.period)
	if !ok1 || !ok2 || tw != [32]byte(append(make([]byte, 12), tw[12:]...)) || pw != [32]byte(append(make([]byte, 24), pw[24:]...)) {
		return token, 0, false
	}
	token = [20]byte(tw[12:])
	challengePeriod = binary.BigEndian.Uint64(pw[24:])
	if !bytes.Equal(EscrowRuntime(token, challengePeriod), code) {
		return [20]byte{}, 0, false
	}
	return token, challengePeriod, true
}
