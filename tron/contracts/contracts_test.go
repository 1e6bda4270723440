package contracts

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmbeddedArtifactsParse(t *testing.T) {
	for _, c := range []struct{ name, abiJSON, bin string }{
		{"BttSpeedEscrow", escrowABIJSON, escrowBinHex},
		{"TestToken", tokenABIJSON, tokenBinHex},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := abi.JSON(strings.NewReader(c.abiJSON))
			require.NoError(t, err)
			code, err := decodeBin(c.bin)
			require.NoError(t, err)
			require.Greater(t, len(code), 100)
		})
	}
	// and through the public API, which panics on a corrupt embed
	require.NotPanics(t, func() {
		EscrowABI()
		TokenABI()
		EscrowBytecode()
		TokenBytecode()
	})
}

func TestEscrowABIIsTheSpecs(t *testing.T) {
	a := EscrowABI()
	methods := map[string]string{
		"open":                 "open(address,uint256,uint64)",
		"topUp":                "topUp(bytes32,uint256,uint64)",
		"claim":                "claim(bytes32,uint256,bytes)",
		"close":                "close(bytes32,uint256,bytes)",
		"startClose":           "startClose(bytes32)",
		"reclaim":              "reclaim(bytes32)",
		"channels":             "channels(bytes32)",
		"voucherDigest":        "voucherDigest(bytes32,uint256)",
		"checkVoucher":         "checkVoucher(bytes32,uint256,bytes)",
		"token":                "token()",
		"challengePeriod":      "challengePeriod()",
		"nonce":                "nonce()",
		"MAX_LIFETIME":         "MAX_LIFETIME()",
		"MIN_CHALLENGE_PERIOD": "MIN_CHALLENGE_PERIOD()",
		"MAX_CHALLENGE_PERIOD": "MAX_CHALLENGE_PERIOD()",
		"REFUND_GAS":           "REFUND_GAS()",
		"refunds":              "refunds(address)",
		"withdraw":             "withdraw()",
		"voucherScheme":        "voucherScheme()",
		"domainSeparator":      "domainSeparator()",
	}
	assert.Len(t, a.Methods, len(methods), "the escrow has exactly the spec's functions")
	for name, sig := range methods {
		m, ok := a.Methods[name]
		if assert.True(t, ok, name) {
			assert.Equal(t, sig, m.Sig)
		}
	}
	var outs []string
	for _, o := range a.Methods["channels"].Outputs {
		outs = append(outs, o.Name+" "+o.Type.String())
	}
	assert.Equal(t, []string{"payer address", "payee address", "deposit uint256", "paid uint256", "expiry uint64", "challengeEnd uint64", "state uint8"}, outs)
	assert.Equal(t, "bytes32", a.Methods["open"].Outputs[0].Type.String())
	assert.Equal(t, "address", a.Methods["checkVoucher"].Outputs[0].Type.String())
	assert.Equal(t, "address,uint64,uint8", argTypes(a.Constructor.Inputs))

	events := map[string]string{
		"ChannelOpened": "ChannelOpened(bytes32,address,address,uint256,uint64)",
		"ToppedUp":      "ToppedUp(bytes32,uint256,uint256,uint64)",
		"Claimed":       "Claimed(bytes32,uint256,uint256)",
		"CloseStarted":  "CloseStarted(bytes32,uint64)",
		"Closed":        "Closed(bytes32,uint256,uint256)",
		"Reclaimed":     "Reclaimed(bytes32,uint256)",
		"RefundHeld":    "RefundHeld(bytes32,address,uint256)",
		"Withdrawn":     "Withdrawn(address,uint256)",
	}
	indexed := map[string]int{"ChannelOpened": 3, "RefundHeld": 2}
	assert.Len(t, a.Events, len(events))
	for name, sig := range events {
		ev, ok := a.Events[name]
		if !assert.True(t, ok, name) {
			continue
		}
		assert.Equal(t, sig, ev.Sig)
		n := 0
		for _, in := range ev.Inputs {
			if in.Indexed {
				n++
			}
		}
		want := indexed[name]
		if want == 0 {
			want = 1 // the channel id
		}
		assert.Equal(t, want, n, "indexed arguments of %s", name)
		if name == "Withdrawn" { // the payer's, not a channel's
			assert.True(t, ev.Inputs[0].Indexed && ev.Inputs[0].Name == "payer", "Withdrawn's first argument is the indexed payer")
			continue
		}
		assert.True(t, ev.Inputs[0].Indexed && ev.Inputs[0].Name == "id", "%s's first argument is the indexed id", name)
	}
}

func argTypes(args abi.Arguments) string {
	var s []string
	for _, a := range args {
		s = append(s, a.Type.String())
	}
	return strings.Join(s, ",")
}

func TestTokenABIIsTRC20(t *testing.T) {
	a := TokenABI()
	for _, sig := range []string{
		"name()", "symbol()", "decimals()", "totalSupply()", "balanceOf(address)", "allowance(address,address)",
		"transfer(address,uint256)", "transferFrom(address,address,uint256)", "approve(address,uint256)",
		"mint(address,uint256)", "owner()",
	} {
		m, ok := a.Methods[sig[:strings.IndexByte(sig, '(')]]
		if assert.True(t, ok, sig) {
			assert.Equal(t, sig, m.Sig)
		}
	}
	assert.Equal(t, "Transfer(address,address,uint256)", a.Events["Transfer"].Sig)
	assert.Equal(t, "Approval(address,address,uint256)", a.Events["Approval"].Sig)
	assert.Empty(t, a.Constructor.Inputs)
}

func TestSolcVersionIsTheArtifacts(t *testing.T) {
	assert.Equal(t, SolcVersion, strings.TrimSpace(solcVersionFile))
	pkg, err := os.ReadFile("package.json")
	require.NoError(t, err)
	short := SolcVersion[:strings.IndexByte(SolcVersion, '+')]
	assert.Contains(t, string(pkg), `"solc": "`+short+`"`, "package.json pins the solc SolcVersion names")
}

func TestEscrowDeployDataIsCodeAndABIArgs(t *testing.T) {
	token := common.HexToAddress("0x1111111111111111111111111111111111111122")
	for _, period := range []uint64{0, 3600, 1<<64 - 1} {
		args, err := EscrowABI().Pack("", token, period, SchemeTIP191)
		require.NoError(t, err)
		want := append(EscrowBytecode(), args...)
		assert.Equal(t, want, EscrowDeployData(token, period))
		for _, scheme := range []uint8{SchemeTIP191, SchemeEIP712} {
			args, err := EscrowABI().Pack("", token, period, scheme)
			require.NoError(t, err)
			want := append(EscrowBytecode(), args...)
			assert.Equal(t, want, EscrowDeployDataFor(EscrowParams{Token: token, ChallengePeriod: period, Scheme: scheme}))
		}
	}
	assert.Equal(t, TokenBytecode(), TokenDeployData())
}

func TestBytecodeIsACopy(t *testing.T) {
	a := EscrowBytecode()
	a[0] ^= 0xff
	assert.NotEqual(t, a[0], EscrowBytecode()[0])
	b := TokenDeployData()
	b[0] ^= 0xff
	assert.NotEqual(t, b[0], TokenBytecode()[0])
	d := EscrowDeployData([20]byte{}, 1)
	d[0] ^= 0xff
	assert.NotEqual(t, d[0], EscrowBytecode()[0])
}

func TestDecodeBin(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"6080\n", "6080", false},
		{"0x6080", "6080", false},
		{"  6080  \n", "6080", false},
		{"", "", true},
		{"\n", "", true},
		{"608", "", true},
		{"60zz", "", true},
	}
	for _, c := range cases {
		got, err := decodeBin(c.in)
		if c.wantErr {
			assert.Error(t, err, "%q", c.in)
			continue
		}
		require.NoError(t, err, "%q", c.in)
		assert.Equal(t, c.want, hex.EncodeToString(got))
	}
}

func TestParsePanicsOnACorruptEmbed(t *testing.T) {
	assert.Panics(t, func() { parseABI("x", "[{") })
	assert.Panics(t, func() { parseBin("x", "zz") })
}

// nodeAndSolc returns the node binary, or skips the test when node or the
// npm-installed solc-js is missing.
func nodeAndSolc(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: cannot recompile the contracts to check the artifacts")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "solc", "package.json")); err != nil {
		t.Skip("tron/contracts/node_modules/solc is missing: run `npm ci --prefix tron/contracts` to check the artifacts")
	}
	return node
}

func TestArtifactsUpToDate(t *testing.T) {
	node := nodeAndSolc(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "compile.mjs", "--check").CombinedOutput()
	require.NoError(t, err, "the committed artifacts differ from a fresh compile (run `npm run compile` in tron/contracts):\n%s", out)
	assert.Contains(t, string(out), "up to date")
}

func TestArtifactsCheckDetectsDrift(t *testing.T) {
	// compile.mjs --check on a copy of this directory with one artifact
	// changed must fail and name it.
	node := nodeAndSolc(t)
	dir := t.TempDir()
	for _, p := range []string{
		"package.json", "compile.mjs", "BttSpeedEscrow.sol", "TestToken.sol", "testdata/QuirkyTokens.sol",
	} {
		copyFile(t, p, filepath.Join(dir, p))
	}
	for _, d := range []string{"artifacts", "testdata/artifacts"} {
		ents, err := os.ReadDir(d)
		require.NoError(t, err)
		for _, ent := range ents {
			copyFile(t, filepath.Join(d, ent.Name()), filepath.Join(dir, d, ent.Name()))
		}
	}
	abs, err := filepath.Abs("node_modules")
	require.NoError(t, err)
	require.NoError(t, os.Symlink(abs, filepath.Join(dir, "node_modules")))
	bin := filepath.Join(dir, "artifacts", "BttSpeedEscrow.bin")
	code, err := os.ReadFile(bin)
	require.NoError(t, err)
	if code[10] == '0' { // another hex digit
		code[10] = '1'
	} else {
		code[10] = '0'
	}
	require.NoError(t, os.WriteFile(bin, code, 0o644))

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "compile.mjs", "--check")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the check passed on a changed artifact:\n%s", out)
	assert.Contains(t, string(out), "artifacts/BttSpeedEscrow.bin: differs from a fresh compile")
	assert.NotContains(t, string(out), "TestToken.bin")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
	require.NoError(t, os.WriteFile(to, b, 0o644))
}
