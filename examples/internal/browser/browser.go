// Package browser renders pages in headless Chromium for the examples'
// tests: Debian's chromium, installed with `apt-get install -y chromium`.
// Tests skip when it is absent.
package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// ErrNoChromium reports that no Chromium binary was found.
var ErrNoChromium = errors.New("browser: chromium not installed (apt-get install -y chromium)")

// Find returns the path of a Chromium binary: $CHROMIUM, or chromium or
// chromium-browser in PATH.
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// Flags are the command-line flags DumpDOM runs Chromium with: headless,
// no sandbox (tests may run as root), no GPU, and no background traffic
// (no QUIC, no first-run, component updates, sync or background
// networking), so it fetches nothing but the page.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
}

// DumpDOM loads url in headless Chromium with a fresh profile in
// profileDir and returns the DOM after the page's scripts ran.
func DumpDOM(ctx context.Context, bin, profileDir, url string) (string, error) {
	args := append(append([]string{}, Flags...), "--user-data-dir="+profileDir, "--dump-dom", url)
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("browser: %s --dump-dom %s: %w; stderr: %s", bin, url, err, tail(errOut.Bytes(), 2000))
	}
	if out.Len() == 0 {
		return "", fmt.Errorf("browser: empty DOM for %s; stderr: %s", url, tail(errOut.Bytes(), 2000))
	}
	return out.String(), nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
