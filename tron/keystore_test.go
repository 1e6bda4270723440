package tron

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fbsobreira/gotron-sdk/pkg/keystore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeystoreMalformed (issue 30 item 9): LoadKeystore validates a key
// file's fields, types and KDF strength before decrypting: a weak KDF
// (scrypt N=2 loaded), a missing or mistyped parameter (no kdfparams.n
// panicked inside gotron-sdk) and anything not a version-3 scrypt/pbkdf2
// AES-128-CTR file give ErrBadKeystore, never a panic nor a key.
func TestKeystoreMalformed(t *testing.T) {
	const pass = "correct horse battery staple"
	s := testSigner(t, 6)
	weak := func(n, p int) func(map[string]any) []byte {
		return func(map[string]any) []byte {
			js, err := keystore.EncryptKey(&keystore.Key{PrivateKey: s.key}, pass, n, p)
			require.NoError(t, err)
			return js
		}
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	require.NoError(t, SaveKeystore(good, s.key, pass, KDFLight))
	goodJSON, err := os.ReadFile(good)
	require.NoError(t, err)
	edit := func(f func(m, crypto, kdf map[string]any)) func(map[string]any) []byte {
		return func(map[string]any) []byte {
			var m map[string]any
			require.NoError(t, json.Unmarshal(goodJSON, &m))
			c := m["crypto"].(map[string]any)
			f(m, c, c["kdfparams"].(map[string]any))
			js, err := json.Marshal(m)
			require.NoError(t, err)
			return js
		}
	}
	tests := []struct {
		name string
		file func(map[string]any) []byte
	}{
		{"scrypt N=2", weak(2, 1)},
		{"scrypt N=1024", weak(1024, 1)},
		{"no kdfparams.n", edit(func(_, _, k map[string]any) { delete(k, "n") })},
		{"kdfparams.n a string", edit(func(_, _, k map[string]any) { k["n"] = "262144" })},
		{"kdfparams.n a fraction", edit(func(_, _, k map[string]any) { k["n"] = 4096.5 })},
		{"kdfparams.n not a power of two", edit(func(_, _, k map[string]any) { k["n"] = 4097 })},
		{"kdfparams.n 2^30 (1 TB of memory)", edit(func(_, _, k map[string]any) { k["n"] = 1 << 30 })},
		{"no kdfparams.r", edit(func(_, _, k map[string]any) { delete(k, "r") })},
		{"kdfparams.r 1", edit(func(_, _, k map[string]any) { k["r"] = 1 })},
		{"kdfparams.p 0", edit(func(_, _, k map[string]any) { k["p"] = 0 })},
		{"kdfparams.p 1000", edit(func(_, _, k map[string]any) { k["p"] = 1000 })},
		{"kdfparams.dklen 16", edit(func(_, _, k map[string]any) { k["dklen"] = 16 })},
		{"no kdfparams.salt", edit(func(_, _, k map[string]any) { delete(k, "salt") })},
		{"salt not hex", edit(func(_, _, k map[string]any) { k["salt"] = "zz" })},
		{"salt of 4 bytes", edit(func(_, _, k map[string]any) { k["salt"] = "00112233" })},
		{"kdfparams not an object", edit(func(_, c, _ map[string]any) { c["kdfparams"] = []int{1} })},
		{"pbkdf2 with c=1", edit(func(_, c, k map[string]any) {
			c["kdf"] = "pbkdf2"
			k["c"], k["prf"] = 1, "hmac-sha256"
		})},
		{"pbkdf2 without prf", edit(func(_, c, k map[string]any) {
			c["kdf"] = "pbkdf2"
			k["c"] = 1 << 20
		})},
		{"kdf argon2", edit(func(_, c, _ map[string]any) { c["kdf"] = "argon2" })},
		{"cipher aes-256-cbc", edit(func(_, c, _ map[string]any) { c["cipher"] = "aes-256-cbc" })},
		{"iv of 8 bytes", edit(func(_, c, _ map[string]any) { c["cipherparams"] = map[string]any{"iv": "0011223344556677"} })},
		{"no mac", edit(func(_, c, _ map[string]any) { delete(c, "mac") })},
		{"ciphertext of 16 bytes", edit(func(_, c, _ map[string]any) { c["ciphertext"] = "00112233445566778899aabbccddeeff" })},
		{"version 1", edit(func(m, _, _ map[string]any) { m["version"] = "1" })},
		{"no version", edit(func(m, _, _ map[string]any) { delete(m, "version") })},
		{"no crypto", edit(func(m, _, _ map[string]any) { delete(m, "crypto") })},
		{"not JSON", func(map[string]any) []byte { return []byte("{\"crypto\":") }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad"+string(rune('a'+i))+".json")
			require.NoError(t, os.WriteFile(path, tc.file(nil), 0o600))
			var ks *KeySigner
			require.NotPanics(t, func() { ks, err = LoadKeystore(path, pass) })
			require.ErrorIs(t, err, ErrBadKeystore)
			assert.Nil(t, ks)
			assert.NotContains(t, err.Error(), pass)
		})
	}
	ks, err := LoadKeystore(good, pass)
	require.NoError(t, err, "KDFLight (scrypt N=2^12) is the minimum and loads")
	assert.Equal(t, s.Address(), ks.Address())
}
