// Package paychan is unidirectional payment channels: a payer deposits
// into an escrow contract for one payee, then pays off chain with
// cumulative vouchers it signs, and the payee redeems the best voucher on
// chain. It knows nothing of BitTorrent beyond "a piece of torrent ih";
// peer/speed carries its vouchers over the wire, and package tron
// implements its Escrow on TRON.
//
// # The parts
//
// Escrow is what paychan needs from a chain: open, top up, read, claim,
// close, start an early close and reclaim a channel. Each call blocks
// until the chain has a receipt or its context ends; one Escrow value
// acts as one account. The tron package implements it; paychantest has an
// in-memory chain with the same rules, for tests.
//
// Store is the durable state of both sides, in bbolt: every committed
// write is fsync'd, so what a method reports done survives a crash. A
// Payer and a Payee may share one Store.
//
// Payer is the paying side. Open (and OpenNotify) deposits into a new
// channel through the Escrow, recording in the Store what it needs to
// find an open whose outcome is unknown (a node that went away, a process
// that stopped) so that it is neither paid twice nor forgotten; Resume
// finds a usable channel to a payee again after a restart. PayFor and
// PayForPieces pay for verified pieces: the Store records each payment,
// never past the deposit and never twice for a piece, before the voucher
// is signed (Sign, with a Signer, which keeps its key to itself). TopUp,
// StartClose and Reclaim call the Escrow for the payer's own moves.
// SignProof signs a channel proof (proof.go), which shows a connection
// speaks for a channel's payer.
//
// Payee is the receiving side. Accept reads a channel from the chain
// before any credit is given on it; Receive and ReceivePieces check a
// voucher (Verify, pure: no I/O, no clock) and store it before it counts;
// Follow rereads followed channels, to see a payer's early close;
// Creditable says whether a channel may still be given credit; Due, Redeem
// and RedeemAll cash vouchers on chain, claiming or closing.
//
// Redeemer runs a Payee's redemptions on a schedule: it follows the
// channels, redeems what is Due, and retries failures with backoff within
// each channel's redeem window. Credit is a pure credit window a seller
// gives a payer.
//
// # Who calls what
//
// A buyer (peer/speed's buy side) holds a Payer: it opens channels and
// resumes them off the torrent's loop (they block on the chain), and pays
// for verified pieces with PayForPieces. A seller (peer/speed's sell side)
// holds a Payee: it accepts a buyer's channel off the loop (Accept reads
// the chain), and takes vouchers with ReceivePieces. The application runs a
// Redeemer beside the Payee, and calls Payee.RedeemAll on shutdown.
//
// Payer, Payee and Store are safe for concurrent use. Calls that reach the
// chain take a context; those that only sign or store do not block on the
// network.
package paychan
