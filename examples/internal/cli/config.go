package cli

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
)

// secretNames are settings a config file never holds: keys and
// passphrases come from the environment or a keystore file's path.
var secretNames = map[string]bool{"key": true, "private-key": true, "passphrase": true, "password": true}

// looksLikeKey matches a private key in hex (32 bytes, with or without 0x).
var looksLikeKey = regexp.MustCompile(`^(0x)?[0-9a-fA-F]{64}$`)

// ApplyConfig reads a config file of "name = value" lines, one flag of fs
// per line by its name without the dash ("reserve = 1/GiB"; a repeatable
// flag on several lines; "#" starts a comment; blank lines are skipped),
// and sets every flag not already set on the command line (fs must have
// parsed the command line: flags there override the file). Lines named
// in extra (such as "seed") are returned by name instead of set. Keys and
// passphrases are refused, by name and by look: they come from the
// environment or a keystore file, never a config file in the clear. Every
// error is a setup error naming the file and line.
func ApplyConfig(fs *flag.FlagSet, path string, extra ...string) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Setupf("-config: %w", err)
	}
	defer f.Close()
	onCmdline := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { onCmdline[fl.Name] = true })
	isExtra := map[string]bool{}
	for _, e := range extra {
		isExtra[e] = true
	}
	got := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "#"); i >= 0 && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		value = strings.Trim(value, `"`)
		if !ok || name == "" {
			return nil, Setupf("%s:%d: want name = value, got %q", path, n, line)
		}
		switch {
		case secretNames[strings.TrimLeft(name, "-")]:
			return nil, Setupf("%s:%d: %s: keys and passphrases never go in a config file: set BTTSPEED_KEY, or keystore = FILE with BTTSPEED_PASSPHRASE in the environment", path, n, name)
		case looksLikeKey.MatchString(value):
			return nil, Setupf("%s:%d: %s: the value looks like a private key; keys never go in a config file (BTTSPEED_KEY, or keystore = FILE)", path, n, name)
		case isExtra[name]:
			got[name] = append(got[name], value)
			continue
		case name == "config":
			return nil, Setupf("%s:%d: a config file cannot name another", path, n)
		}
		if fs.Lookup(name) == nil {
			return nil, Setupf("%s:%d: unknown setting %q (settings are the flags' names without the dash)", path, n, name)
		}
		if onCmdline[name] {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			return nil, Setupf("%s:%d: %s = %s: %w", path, n, name, value, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, Setupf("-config %s: %w", path, err)
	}
	return got, nil
}

// Version says which build this is: the module's version, the commit and
// its time (with "+dirty" for uncommitted changes), and the Go release.
func Version(cmd string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return cmd + " (no build information)"
	}
	v := bi.Main.Version
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	out := fmt.Sprintf("%s %s %s", cmd, bi.Main.Path, v)
	if rev != "" {
		out += fmt.Sprintf(" (commit %s%s, %s)", rev, dirty, at)
	}
	return out + " " + bi.GoVersion
}

// ErrVersion is returned by a command's flag parsing when -version was
// given: print Version and exit 0.
var ErrVersion = errors.New("-version")
