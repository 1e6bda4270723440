// Package evmescrow is what tron and bttc share of talking to
// BttSpeedEscrow (tron/contracts): both chains run the same Solidity
// contract on an EVM (TRON's TVM is one), so the calls' encoding, the
// views' and events' decoding (Codec), the channel id, the revert reasons
// (Reverts), the fund-or-approve decision (Funding, Fund, Failed), the
// open-intent nonce scan (ScanNonces), the settled-call outcomes
// (Outcomes) and paychan.Escrow's calls themselves (Calls) are the same
// logic and live here once, as do the clients' retry of an unreachable
// node (Retry, on internal/backoff).
//
// What differs stays in the chain packages: the transport (gRPC or
// JSON-RPC), signing, fees, finality, how a transaction is proven never
// to be included (TRON: its expiration; EVM: its nonce taken), the
// pending-transaction state machine built on that, the journal's record
// format, and each package's exported errors and types. The functions
// here take those as arguments — the chain's sentinels (Kinds, the
// fields of Calls), a Chain adapter, a TokenReader — and wrap the chain's
// errors, so callers of tron and bttc see the same errors as before.
//
// Nothing here does I/O of its own: the pure decisions (Funding.Plan,
// Shortfall, ScanBounds, Matches, Reverts) are functions of their
// arguments, and the rest reads and sends through what it is given.
package evmescrow
