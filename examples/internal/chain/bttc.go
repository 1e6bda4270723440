package chain

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/fbsobreira/gotron-sdk/pkg/keystore"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/bttc"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
	"github.com/bttspeed/bttspeed/paychan"
)

// checkBTTC validates the flags of a BTTC -chain.
func (f Flags) checkBTTC() error {
	u, err := url.Parse(f.Node)
	if err != nil || u.Host == "" {
		return cli.Setupf("-chain %q: want the node's JSON-RPC URL, such as http://127.0.0.1:8545", f.Node)
	}
	if f.Escrow == "" {
		return cli.Setupf("-escrow is needed with a BTTC -chain: the BttSpeedEscrow's 0x address (go run ./examples/devnet -chain bttc prints it, with its -escrow-tx)")
	}
	if _, err := parseEVMAddress(f.Escrow); err != nil {
		return cli.Setupf("-escrow %q: %w", f.Escrow, err)
	}
	if f.EscrowTx != "" {
		if _, err := parseTxHash(f.EscrowTx); err != nil {
			return cli.Setupf("-escrow-tx %q: %w", f.EscrowTx, err)
		}
	}
	if f.Solidity != "" {
		return cli.Setupf("-solidity is for a TRON -chain")
	}
	if f.insecureSet {
		return cli.Setupf("-chain-insecure is for a TRON -chain: a BTTC URL says http or https itself")
	}
	return nil
}

// parseEVMAddress reads 0x and 40 hex digits, or any form btt.ParseAddress
// reads.
func parseEVMAddress(s string) (btt.Address, error) {
	if common.IsHexAddress(s) && len(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")) == 40 {
		return btt.AddressFromEVM(common.HexToAddress(s)), nil
	}
	return btt.ParseAddress(s)
}

// parseTxHash reads 0x and 64 hex digits.
func parseTxHash(s string) (common.Hash, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(h) != 64 {
		return common.Hash{}, fmt.Errorf("want a transaction hash, 0x and 64 hex digits")
	}
	b, err := common.ParseHexOrString("0x" + h)
	if err != nil || len(b) != 32 {
		return common.Hash{}, fmt.Errorf("want a transaction hash, 0x and 64 hex digits")
	}
	return common.BytesToHash(b), nil
}

// BTTCConfirmations is how many blocks make a BTTC transaction count:
// f.Confirmations, or its default for the URL.
func (f Flags) BTTCConfirmations() uint64 {
	if f.Confirmations > 0 {
		return f.Confirmations
	}
	if u, err := url.Parse(f.Node); err == nil && isLoopback(u.Hostname()) {
		return 1
	}
	return bttc.DefaultConfirmations
}

// connectBTTC connects to the BTTC node at the URL f.Node.
func connectBTTC(ctx context.Context, f Flags, env Env, log *slog.Logger) (*Chain, error) {
	key, err := LoadEVMKey(f.Keystore, env)
	if err != nil {
		return nil, err
	}
	signer, err := paychan.NewKeySigner(key)
	if err != nil {
		return nil, cli.Setup(err)
	}
	escrowAddr, _ := parseEVMAddress(f.Escrow)
	var opts []bttc.EscrowOption
	if f.EscrowTx != "" {
		h, _ := parseTxHash(f.EscrowTx)
		opts = append(opts, bttc.WithCreationTx(h))
	}
	unreachable := func(err error) error {
		return cli.Setupf("cannot reach the BTTC node at %s (is it running? `go run ./examples/devnet -chain bttc` starts one): %w", f.Node, err)
	}
	ec, err := ethclient.DialContext(ctx, f.Node)
	if err != nil {
		return nil, unreachable(fmt.Errorf("%w: %w", paychan.ErrChainUnavailable, err))
	}
	cfg := bttc.Config{Key: key, Confirmations: f.BTTCConfirmations(), Retry: bttc.Retry{Attempts: Retry.Attempts, Base: Retry.Base, Max: Retry.Max}}
	if cfg.Confirmations == 1 {
		cfg.PollInterval = DevPollInterval
	}
	bc, err := bttc.New(ec, cfg)
	if err != nil {
		ec.Close()
		return nil, cli.Setup(err)
	}
	c := &Chain{Addr: f.Node, Gas: NativeBTT, Args: argsOf(f), Signer: signer, Client: &bttcClient{Client: bc, ec: ec}}
	id, err := bc.ChainID(ctx)
	if err != nil {
		c.Close()
		return nil, unreachable(err)
	}
	esc, err := bttc.NewEscrow(bc, escrowAddr, opts...)
	if err != nil {
		c.Close()
		return nil, cli.Setup(err)
	}
	c.Escrow = esc
	if c.Domain, err = esc.Domain(ctx); err != nil {
		c.Close()
		return nil, cli.Setupf("the escrow %s does not answer as a BttSpeedEscrow (check -escrow and -escrow-tx): %w", f.Escrow, err)
	}
	log.Info("BTTC", "rpc", f.Node, "chain_id", id, "escrow", common.Address(escrowAddr.EVM()).Hex(), "creation_proven", f.EscrowTx != "", "confirmations", cfg.Confirmations)
	return c, nil
}

// DevPollInterval is how often a BTTC client on a loopback dev chain (one
// confirmation) asks for a receipt.
const DevPollInterval = 50 * time.Millisecond

// bttcClient is a *bttc.Client as a Client, over the connection it was
// made on (which also prices gas).
type bttcClient struct {
	*bttc.Client
	ec *ethclient.Client
}

// GasBalance implements Client: wei of native BTT.
func (c *bttcClient) GasBalance(ctx context.Context, who btt.Address) (btt.Amount, error) {
	wei, err := c.BTTBalance(ctx, who)
	if err != nil {
		return btt.Amount{}, err
	}
	return btt.AmountFromBig(wei)
}

// feePerGas is what the bttc client would offer per gas now: twice the
// latest base fee plus the suggested tip.
func (c *bttcClient) feePerGas(ctx context.Context) (*big.Int, error) {
	h, err := c.ec.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", paychan.ErrChainUnavailable, err)
	}
	tip, err := c.ec.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", paychan.ErrChainUnavailable, err)
	}
	fee := new(big.Int).Set(tip)
	if h.BaseFee != nil {
		fee.Add(fee, new(big.Int).Mul(h.BaseFee, big.NewInt(2)))
	}
	return fee, nil
}

// Close implements Client.
func (c *bttcClient) Close() error {
	c.ec.Close()
	return nil
}

// LoadEVMKey loads the key for BTTC from the keystore file (go-ethereum's
// format, mode 0600) or BTTSPEED_KEY; a key is required. The key and
// passphrase never appear in an error.
func LoadEVMKey(path string, env Env) (*ecdsa.PrivateKey, error) {
	hexKey, haveKey := env(EnvKey)
	switch {
	case path != "" && haveKey:
		return nil, cli.Setupf("both -keystore and $%s are set: use one", EnvKey)
	case path != "":
		pass, ok := env(EnvPassphrase)
		if !ok {
			return nil, cli.Setupf("-keystore %s: set its passphrase in $%s", path, EnvPassphrase)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, cli.Setupf("-keystore: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, cli.Setupf("-keystore %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, cli.Setupf("-keystore: %w", err)
		}
		k, err := decryptKey(b, pass)
		if err != nil {
			return nil, cli.Setupf("-keystore %s: cannot decrypt it (wrong passphrase?)", path)
		}
		return k.PrivateKey, nil
	case haveKey:
		s := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(hexKey), "0x"), "0X")
		if len(s) != 64 {
			return nil, cli.Setupf("$%s: want 64 hex digits, got %d characters", EnvKey, len(s))
		}
		k, err := crypto.HexToECDSA(s)
		if err != nil {
			return nil, cli.Setupf("$%s: not a secp256k1 private key in hex", EnvKey)
		}
		return k, nil
	}
	return nil, cli.Setupf("no key: set $%s to the account's private key in hex, or give -keystore FILE with $%s", EnvKey, EnvPassphrase)
}

// decryptKey is gotron-sdk's DecryptKey (the format go-ethereum and
// tron.LoadKeystore read), which panics on some malformed files.
func decryptKey(js []byte, pass string) (k *keystore.Key, err error) {
	defer func() {
		if recover() != nil {
			k, err = nil, fmt.Errorf("not a keystore file")
		}
	}()
	return keystore.DecryptKey(js, pass)
}
