// Package evmescrow is what tron and bttc share of talking to
// BttSpeedEscrow (tron/contracts): both chains run the same Solidity
// contract on an EVM (TRON's TVM is one), so the calls' encoding, the
// events' and views' decoding, the channel id, the revert reasons, the
// fund-or-approve decision and the open-intent scan are the same logic
// and live here once.
//
// What differs stays in the chain packages: the transport (gRPC or
// JSON-RPC), signing, fees, finality, the pending-transaction journal's
// format, and each package's own error values. The functions here take
// those as arguments — the chain's sentinels (Kinds), a read of a
// channel, a token reader — and return the chain's errors, so callers of
// tron and bttc see the same errors as before.
//
// Nothing here does I/O of its own: the pure decisions (PlanFund,
// Shortfall, ScanBounds, Matches) are functions of their arguments, and
// the few functions that read the chain do it through the callbacks they
// are given.
package evmescrow
