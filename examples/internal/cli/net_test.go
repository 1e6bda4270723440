package cli

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/peer"
)

func TestNetFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		enc     peer.Encryption
		proto   peer.Protocols
		wantErr string
	}{
		{args: nil, enc: peer.EncryptionPreferPlain, proto: 0}, // the library's defaults (0: TCP)
		{args: []string{"-encryption", "prefer-plain"}, enc: peer.EncryptionPreferPlain},
		{args: []string{"-encryption", "prefer"}, enc: peer.EncryptionPrefer},
		{args: []string{"-encryption=require"}, enc: peer.EncryptionRequire},
		{args: []string{"-encryption", "never"}, enc: peer.EncryptionNever},
		{args: []string{"-protocols", "tcp"}, proto: peer.ProtocolTCP},
		{args: []string{"-protocols", "utp"}, proto: peer.ProtocolUTP},
		{args: []string{"-protocols", "tcp,utp"}, proto: peer.ProtocolTCP | peer.ProtocolUTP},
		{args: []string{"-protocols", "utp, tcp"}, proto: peer.ProtocolTCP | peer.ProtocolUTP},
		{args: []string{"-encryption", "require", "-protocols", "utp"}, enc: peer.EncryptionRequire, proto: peer.ProtocolUTP},
		{args: []string{"-encryption", "rc4"}, wantErr: `invalid value "rc4" for flag -encryption: "rc4": want prefer-plain, prefer, require or never`},
		{args: []string{"-encryption", ""}, wantErr: `want prefer-plain, prefer, require or never`},
		{args: []string{"-encryption", "Require"}, wantErr: `want prefer-plain, prefer, require or never`},
		{args: []string{"-protocols", "udp"}, wantErr: `invalid value "udp" for flag -protocols: "udp": want tcp, utp or tcp,utp`},
		{args: []string{"-protocols", ""}, wantErr: `want tcp, utp or tcp,utp`},
		{args: []string{"-protocols", "tcp,"}, wantErr: `want tcp, utp or tcp,utp`},
	} {
		t.Run(fmtArgs(tc.args), func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var n NetFlags
			n.Register(fs)
			err := Parse(fs, tc.args, 0)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Equal(t, ExitSetup, ExitCode(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.enc, n.Encryption)
			assert.Equal(t, tc.proto, n.Protocols)
			var cfg peer.Config
			n.Apply(&cfg)
			assert.Equal(t, tc.enc, cfg.Encryption)
			assert.Equal(t, tc.proto, cfg.Protocols)
			assert.Equal(t, tc.proto&peer.ProtocolUTP != 0, n.UTP())
		})
	}
}

func fmtArgs(args []string) string {
	if len(args) == 0 {
		return "none"
	}
	s := ""
	for _, a := range args {
		s += a + " "
	}
	return s
}

// TestNetFlagsConfig: the flags are config-file keys; the command line
// overrides the file, and a bad value names the file and line.
func TestNetFlagsConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.conf")
	require.NoError(t, os.WriteFile(conf, []byte("encryption = require\nprotocols = tcp,utp\n"), 0o600))
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var n NetFlags
	n.Register(fs)
	require.NoError(t, Parse(fs, []string{"-encryption", "never"}, 0))
	_, err := ApplyConfig(fs, conf)
	require.NoError(t, err)
	assert.Equal(t, peer.EncryptionNever, n.Encryption, "the command line wins")
	assert.Equal(t, peer.ProtocolTCP|peer.ProtocolUTP, n.Protocols)

	bad := filepath.Join(dir, "bad.conf")
	require.NoError(t, os.WriteFile(bad, []byte("# transports\nprotocols = sctp\n"), 0o600))
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	n = NetFlags{}
	n.Register(fs)
	require.NoError(t, Parse(fs, nil, 0))
	_, err = ApplyConfig(fs, bad)
	require.Error(t, err)
	assert.Equal(t, ExitSetup, ExitCode(err))
	assert.Contains(t, err.Error(), "bad.conf:2: protocols = sctp")
	assert.Contains(t, err.Error(), "want tcp, utp or tcp,utp")
}
