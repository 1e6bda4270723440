// Package tron connects bttspeed's payment channels to TRON: a Client over
// gotron-sdk's gRPC client (deploy, constant calls, signed transactions,
// receipts, TRC-20 helpers) and Escrow, the paychan.Escrow of a deployed
// BttSpeedEscrow contract (tron/contracts).
//
//	c, err := tron.Dial(ctx, tron.Config{Addr: "127.0.0.1:50051", Insecure: true, Signer: key})
//	...
//	defer c.Close()
//	esc, err := tron.NewEscrow(c, escrowAddr)
//	payer, err := paychan.NewPayer(ctx, store, esc, key)
//
// # Addresses and keys
//
// Addresses are btt.Address (21 bytes, 0x41 prefix) at every boundary;
// gotron-sdk's base58 strings and go-ethereum's 20-byte ABI addresses stay
// inside the package. A Signer is a secp256k1 key behind paychan.Signer's
// method set, so the same key signs transactions (sha256 of raw_data, the
// transaction id) and vouchers. KeySigner holds a key in memory
// (ParseKeyHex, NewKeySigner, LoadKeystore for gotron-sdk/geth keystore
// files, which must be mode 0600); its String and every fmt verb show the
// address only, and no error carries a key or a passphrase.
//
// # Transactions
//
// Send simulates a call first (a constant call from the sender: a call
// that would revert is refused with its reason, for free), checks the
// transaction the node built against the call asked for, checks the energy
// against Config.FeeLimit (*OutOfEnergyError) and the account's TRX
// (*InsufficientTRXError), signs and broadcasts. Confirm polls for the
// receipt and rebroadcasts the same signed transaction when none comes in
// Config.ReceiptTimeout. With Config.Finality FinalitySolid (the default)
// it then waits for the block to solidify (the solidity API,
// Config.SolidityAddr; about a minute on TRON), and Call reads the
// solidified state: nothing a caller records can be undone by a fork. A
// block dropped before it solidifies (ErrDropped) has its transaction
// rebroadcast while it has not expired. Deploy simulates the deployment
// first and sets its fee limit from the energy (DeployMargin). A revert gives a *RevertError whose reason maps
// to paychan's errors (errors.Is(err, paychan.ErrOverDeposit) for "escrow:
// over deposit" and so on).
//
// A node that cannot be reached (gRPC Unavailable, a deadline, connection
// refused) gives errors wrapping paychan.ErrChainUnavailable, after bounded
// retries with exponential back-off (Config.Retry) of reads, of building
// transactions and of broadcasting an already-signed one — the same bytes,
// so repeating is safe; DUP_TRANSACTION means the node has it. A
// transaction signed but of unknown outcome is never replaced by a freshly
// signed one blindly: *TxError carries it to look up or rebroadcast, and
// Escrow remembers it and settles it before its next transaction. Given
// a journal (KeepTxsIn; paychan.NewPayer gives the payer's store), Escrow
// writes each signed transaction there before sending it, so a restart
// settles it too, and FindOpen finds the channel of an open whose outcome
// was never learnt.
//
// # Costs and speed
//
// At mainnet prices (210 sun per energy, 1,000 sun per byte of bandwidth
// beyond the free 600 a day) the payer's approve costs about 5 TRX and an
// open about 29, a top-up about 8; a claim or a close costs the payee about
// 11-12 (measured on the devnet, which prices energy as mainnet). Against the
// devnet on loopback a state change (simulate, build, fee checks,
// broadcast, receipt, read back) takes about 1.3-2 ms; on a real chain it is
// the block time, 3 s, plus the node's round trips.
//
// # Tests
//
// The tests run the contract's whole life through Client, gotron-sdk and
// gRPC against tron/devnet, an in-process node on 127.0.0.1 executing the
// real bytecode. TestNile runs the same life cycle against a real node
// (Nile testnet, or any TRON node) when these are set, and is skipped
// otherwise:
//
//	BTTSPEED_TRON_NODE        the node's gRPC host:port, e.g. grpc.nile.trongrid.io:50051
//	BTTSPEED_TRON_KEY         hex private key of a funded account, or
//	BTTSPEED_TRON_KEYSTORE    a keystore file (mode 0600) and
//	BTTSPEED_TRON_PASSPHRASE  its passphrase
//	BTTSPEED_TRON_INSECURE    1 to dial without TLS (a local node)
//	BTTSPEED_TRON_APIKEY      a TronGrid API key, if the node wants one
//	BTTSPEED_TRON_SOLIDITY    the node's solidity gRPC host:port (java-tron's port 50061,
//	                          e.g. grpc.nile.trongrid.io:50061); empty: BTTSPEED_TRON_NODE
//
// It deploys a TestToken and an escrow with a 60 s challenge period from
// that account, mints itself tokens, opens a channel to a second, fresh key
// (funded with a little TRX from the first for its fees), claims, closes,
// and checks the balances. It burns about 620 TRX at 210 sun per energy,
// mostly for the two deployments, and wants 700 in the account (Nile's
// faucet gives 2,000); every transaction waits for solidity, so it takes
// up to half an hour. It logs the energy and fees of approve, open,
// top-up, claim, close, start-close and reclaim on the node beside the
// devnet's. TestNileOnDevnet runs the
// same code against the devnet so that it keeps working:
//
//	BTTSPEED_TRON_NODE=grpc.nile.trongrid.io:50051 BTTSPEED_TRON_KEY=... go test -run TestNile -v -timeout 50m ./tron/
package tron
