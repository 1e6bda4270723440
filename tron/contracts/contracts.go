// Package contracts embeds bttspeed's compiled TRON contracts: the
// BttSpeedEscrow payment-channel escrow and the mintable TestToken
// (TRC-20) the devnet deploys.
//
// The Solidity sources, the pinned solc-js (package.json) and the compile
// script live next to this file; the artifacts/ directory holds the ABI and
// creation code that compile.mjs writes and that are committed and embedded
// here. `npm run check` (and TestArtifactsUpToDate) recompiles and fails if
// they drift from the sources.
//
// The ABIs are parsed once, on first use. The values returned by EscrowABI
// and TokenABI share that parse and must be treated as read-only; the byte
// slices returned are fresh copies.
package contracts

import (
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

// SolcVersion is the solc release that compiled the embedded artifacts
// (solc-js, pinned in package.json), with evmVersion "london", the
// optimizer on (200 runs) and no metadata hash.
const SolcVersion = "0.8.26+commit.8a97fa7a"

var (
	//go:embed artifacts/BttSpeedEscrow.abi.json
	escrowABIJSON string
	//go:embed artifacts/BttSpeedEscrow.bin
	escrowBinHex string
	//go:embed artifacts/TestToken.abi.json
	tokenABIJSON string
	//go:embed artifacts/TestToken.bin
	tokenBinHex string
	//go:embed artifacts/solc-version.txt
	solcVersionFile string
)

// parseABI parses an embedded ABI. The artifacts are generated and tested
// (TestEmbeddedArtifactsParse), so a failure is a build bug: it panics.
func parseABI(name, js string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(js))
	if err != nil {
		panic(fmt.Sprintf("contracts: embedded %s ABI does not parse: %v", name, err))
	}
	return a
}

// parseBin decodes embedded hex creation code; like parseABI it panics on a
// corrupt embed.
func parseBin(name, hx string) []byte {
	b, err := decodeBin(hx)
	if err != nil {
		panic(fmt.Sprintf("contracts: embedded %s bytecode: %v", name, err))
	}
	return b
}

// decodeBin decodes compile.mjs's .bin format: lower-case hex, optionally
// 0x-prefixed, surrounded by white space.
func decodeBin(hx string) ([]byte, error) {
	hx = strings.TrimPrefix(strings.TrimSpace(hx), "0x")
	if hx == "" {
		return nil, errors.New("empty bytecode")
	}
	b, err := hex.DecodeString(hx)
	if err != nil {
		return nil, fmt.Errorf("bad hex: %w", err)
	}
	return b, nil
}

var (
	escrowABI = sync.OnceValue(func() abi.ABI { return parseABI("BttSpeedEscrow", escrowABIJSON) })
	escrowBin = sync.OnceValue(func() []byte { return parseBin("BttSpeedEscrow", escrowBinHex) })
	tokenABI  = sync.OnceValue(func() abi.ABI { return parseABI("TestToken", tokenABIJSON) })
	tokenBin  = sync.OnceValue(func() []byte { return parseBin("TestToken", tokenBinHex) })
)

// EscrowABI returns the parsed ABI of BttSpeedEscrow (read-only: it is
// shared).
func EscrowABI() abi.ABI { return escrowABI() }

// EscrowABIJSON returns BttSpeedEscrow's ABI as JSON, as gotron-sdk's deploy
// wants it.
func EscrowABIJSON() string { return escrowABIJSON }

// EscrowBytecode returns a copy of BttSpeedEscrow's creation code, without
// constructor arguments.
func EscrowBytecode() []byte { return slices.Clone(escrowBin()) }

// EscrowDeployData returns the data of a transaction deploying a TRON
// BttSpeedEscrow: the creation code followed by the ABI-encoded constructor
// arguments (address token, uint64 challengePeriod, uint8 voucherScheme =
// SchemeTIP191), token being the 20-byte EVM form of the token's address
// (btt.Address.EVM()) and challengePeriod in seconds.
func EscrowDeployData(token [20]byte, challengePeriod uint64) []byte {
	return EscrowDeployDataFor(EscrowParams{Token: token, ChallengePeriod: challengePeriod, Scheme: SchemeTIP191})
}

// EscrowDeployDataFor returns the data of a transaction deploying a
// BttSpeedEscrow with p as its constructor arguments.
func EscrowDeployDataFor(p EscrowParams) []byte {
	code := escrowBin()
	out := make([]byte, len(code)+96)
	copy(out, code)
	args := out[len(code):]
	copy(args[12:32], p.Token[:])
	binary.BigEndian.PutUint64(args[56:64], p.ChallengePeriod)
	args[95] = p.Scheme
	return out
}

// TokenABI returns the parsed ABI of TestToken (read-only: it is shared).
func TokenABI() abi.ABI { return tokenABI() }

// TokenABIJSON returns TestToken's ABI as JSON.
func TokenABIJSON() string { return tokenABIJSON }

// TokenBytecode returns a copy of TestToken's creation code.
func TokenBytecode() []byte { return slices.Clone(tokenBin()) }

// TokenDeployData returns the data of a transaction deploying TestToken
// (its constructor takes no arguments: the creation code alone). The
// deployer becomes the token's owner, the only minter.
func TokenDeployData() []byte { return TokenBytecode() }
