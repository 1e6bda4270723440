// Package bttc is bttspeed's payment channels on BitTorrent Chain (BTTC),
// the EVM chain where BTT is native since December 2021 (mainnet chain id
// 199, Donau testnet 1029), or on any EVM chain: an Escrow implementing
// paychan.Escrow over go-ethereum's JSON-RPC client, for the same
// BttSpeedEscrow contract as TRON's, deployed to check EIP-712 vouchers
// (paychan.SchemeEIP712) so wallets can sign and show them.
//
// Deposits are in an ERC-20 token: on BTTC the wrapped BTT (WBTT), or any
// other. Gas is paid in native BTT.
//
// The Escrow behaves like tron.Escrow: every call is simulated before it
// is signed (eth_call, eth_estimateGas), sent with EIP-1559 fees under a
// cap (Config.MaxFeePerGas), and waited for with a confirmation depth
// (Config.Confirmations); reads and sends of the same signed bytes are
// retried with back-off while the node is unreachable; a transaction
// whose outcome is unknown is kept (in a paychan.TxJournal across
// restarts) and settled before anything else is signed; errors wrap
// paychan's sentinels.
//
// bttc/bttcdev runs a development chain in process for tests and the
// examples' devnet.
package bttc
