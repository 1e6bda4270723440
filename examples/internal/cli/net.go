package cli

import (
	"flag"
	"fmt"

	"github.com/bttspeed/bttspeed/peer"
)

// NetFlags are the flags of how peers are reached, shared by both
// commands: -encryption (peer.Encryption: prefer-plain, prefer, require
// or never) and -protocols (peer.Protocols: tcp, utp, or tcp,utp). Unset,
// they are the library's defaults (prefer-plain, tcp). A bad value is a
// parse error, so a setup error (exit 2), on the command line and in a
// config file alike.
type NetFlags struct {
	Encryption peer.Encryption
	Protocols  peer.Protocols
}

// Register adds the flags to fs.
func (n *NetFlags) Register(fs *flag.FlagSet) {
	fs.Func("encryption", "encrypted (MSE/PE) connections: prefer-plain (accept both, dial plaintext first; the default), prefer (dial encrypted first), require (RC4 only), never (plaintext only)", func(s string) error {
		e, err := ParseEncryption(s)
		n.Encryption = e
		return err
	})
	fs.Func("protocols", "transports to accept and dial peers on: tcp (the default), utp, or tcp,utp (both on the -listen port; TCP dialed first)", func(s string) error {
		p, err := ParseProtocols(s)
		n.Protocols = p
		return err
	})
}

// Apply sets the flags' fields of cfg.
func (n NetFlags) Apply(cfg *peer.Config) {
	cfg.Encryption, cfg.Protocols = n.Encryption, n.Protocols
}

// UTP reports whether the flags turn uTP on (it takes a UDP port).
func (n NetFlags) UTP() bool { return n.Protocols&peer.ProtocolUTP != 0 }

// ParseEncryption parses an -encryption value (peer.ParseEncryption's
// names).
func ParseEncryption(s string) (peer.Encryption, error) {
	e, err := peer.ParseEncryption(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want prefer-plain, prefer, require or never", s)
	}
	return e, nil
}

// ParseProtocols parses a -protocols value: tcp, utp, or both
// comma-separated.
func ParseProtocols(s string) (peer.Protocols, error) {
	p, err := peer.ParseProtocols(s)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("%q: want tcp, utp or tcp,utp", s)
	}
	return p, nil
}
