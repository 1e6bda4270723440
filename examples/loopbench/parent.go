package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// params are the parent's flags.
type params struct {
	size, piece   string
	runs          int
	only          string
	example, perf bool
	profile       string
	// bins are more leechers, examples/leecher builds (or scripts that
	// exec one) to compare against our seeder, each its own row.
	bins binList
}

// binList is -bin NAME=PATH, repeatable.
type binList []namedBin

type namedBin struct{ name, path string }

func (b *binList) String() string {
	var s []string
	for _, x := range *b {
		s = append(s, x.name+"="+x.path)
	}
	return strings.Join(s, ",")
}

func (b *binList) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	switch {
	case !ok || name == "" || path == "":
		return fmt.Errorf("want NAME=PATH, got %q", v)
	case name == "ours" || name == "anacrolix" || name == "example":
		return fmt.Errorf("%q names a built-in row: pick another name", name)
	case !plainName(name):
		// It names the row's download directory (removed after each
		// run) and profiles, and -only lists rows between commas.
		return fmt.Errorf("-bin name %q: want letters, digits and . - _ only, and neither . nor .. alone", name)
	}
	for _, x := range *b {
		if x.name == name {
			return fmt.Errorf("%q given twice", name)
		}
	}
	*b = append(*b, namedBin{name, path})
	return nil
}

// result is one transfer as measured from outside the processes.
type result struct {
	// secs is from starting the leecher process to its exit.
	secs float64
	// leechUser and leechSys are the leecher's CPU (its rusage at exit);
	// leechRSS its peak resident set (ru_maxrss), in MiB.
	leechUser, leechSys, leechRSS float64
	// seedUser and seedSys are the seeder's CPU between the leecher's
	// start and exit (/proc/PID/stat; 0 where there is none), seedRSS its
	// peak resident set by then (VmHWM), in MiB.
	seedUser, seedSys, seedRSS float64
}

func (r result) leechCPU() float64 { return r.leechUser + r.leechSys }

// column is one figure of a result, for the medians.
type column struct {
	head   string
	format string
	get    func(r result, size float64) float64
}

var columns = []column{
	{"MB/s", "%9.1f", func(r result, size float64) float64 { return size / r.secs / 1e6 }},
	{"seconds", "%8.2f", func(r result, _ float64) float64 { return r.secs }},
	{"L-user", "%7.2f", func(r result, _ float64) float64 { return r.leechUser }},
	{"L-sys", "%7.2f", func(r result, _ float64) float64 { return r.leechSys }},
	{"L-CPU/GiB", "%10.2f", func(r result, size float64) float64 { return r.leechCPU() / (size / (1 << 30)) }},
	{"L-RSS MiB", "%10.1f", func(r result, _ float64) float64 { return r.leechRSS }},
	{"RSS/GiB", "%8.1f", func(r result, size float64) float64 { return r.leechRSS / (size / (1 << 30)) }},
	{"S-user", "%7.2f", func(r result, _ float64) float64 { return r.seedUser }},
	{"S-sys", "%7.2f", func(r result, _ float64) float64 { return r.seedSys }},
	{"S-RSS MiB", "%10.1f", func(r result, _ float64) float64 { return r.seedRSS }},
}

func runParent(p params) error {
	size, err := parseSize(p.size)
	if err != nil {
		return err
	}
	pl, err := parseSize(p.piece)
	if err != nil {
		return err
	}
	if p.runs < 1 {
		return fmt.Errorf("-runs %d: want at least 1", p.runs)
	}
	impls, bins, err := p.rows()
	if err != nil {
		return err
	}
	if p.perf && p.profile == "" {
		return errors.New("-perf needs -profile DIR: where the perf data goes")
	}
	if p.profile != "" {
		if err := os.MkdirAll(p.profile, 0o755); err != nil {
			return fmt.Errorf("-profile: %w", err)
		}
	}
	work, err := os.MkdirTemp("", "loopbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var exampleBin string
	if contains(impls, "example") {
		exampleBin = filepath.Join(work, "leecher")
		fmt.Println("building examples/leecher…")
		build := exec.Command("go", "build", "-o", exampleBin, "github.com/bttspeed/bttspeed/examples/leecher")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building examples/leecher (run loopbench inside the module): %w\n%s", err, out)
		}
	}
	fmt.Printf("generating %s of random data in %s pieces…\n", p.size, p.piece)
	src := filepath.Join(work, "src")
	tf, sum, err := makeTorrent(src, size, pl)
	if err != nil {
		return err
	}
	results := map[string][]result{}
	// The implementations take turns, so that a change in the machine's
	// load falls on both.
	for r := 0; r < p.runs; r++ {
		for _, impl := range impls {
			// Start each run with no dirty pages left from the last.
			syscall.Sync()
			t := transferSpec{self: self, impl: impl, tf: tf, src: src, dst: filepath.Join(work, fmt.Sprintf("%s-%d", impl, r)), want: sum, exampleBin: exampleBin}
			if b, ok := bins[impl]; ok {
				t.impl, t.exampleBin = "example", b
			}
			if p.profile != "" {
				t.leechProfile = filepath.Join(p.profile, fmt.Sprintf("leech-%s-%d.pprof", impl, r+1))
				t.seedProfile = filepath.Join(p.profile, fmt.Sprintf("seed-%s-%d.pprof", impl, r+1))
				if p.perf {
					t.perfData = filepath.Join(p.profile, fmt.Sprintf("leech-%s-%d.perf.data", impl, r+1))
				}
				if t.impl == "example" {
					t.leechProfile = ""
				}
				if impl == "example" {
					t.exampleProfile = filepath.Join(p.profile, fmt.Sprintf("leech-%s-%d.pprof", impl, r+1))
				}
			}
			res, err := t.run()
			if err != nil {
				return fmt.Errorf("%s run %d: %w", impl, r+1, err)
			}
			fmt.Printf("%-9s run %d: %.2f s, %.1f MB/s; leecher user %.2f s + sys %.2f s = %.2f CPU-s/GiB, peak RSS %.1f MiB; seeder user %.2f s + sys %.2f s\n",
				impl, r+1, res.secs, float64(size)/res.secs/1e6, res.leechUser, res.leechSys, res.leechCPU()/(float64(size)/(1<<30)), res.leechRSS, res.seedUser, res.seedSys)
			results[impl] = append(results[impl], res)
		}
	}
	fmt.Printf("\nmedians of %d runs (each column on its own); L- the leecher process, S- the seeder's during the transfer\n", p.runs)
	fmt.Printf("%-10s", "leecher")
	for _, c := range columns {
		fmt.Printf(" %*s", width(c.format), c.head)
	}
	fmt.Println()
	medians := map[string][]float64{}
	for _, impl := range impls {
		fmt.Printf("%-10s", impl)
		for _, c := range columns {
			m := median(results[impl], func(r result) float64 { return c.get(r, float64(size)) })
			medians[impl] = append(medians[impl], m)
			fmt.Printf(" "+c.format, m)
		}
		fmt.Println()
	}
	fmt.Printf("\nspread (min–max of the runs)\n")
	for _, impl := range impls {
		fmt.Printf("%-10s", impl)
		for _, c := range columns {
			lo, hi := spread(results[impl], func(r result) float64 { return c.get(r, float64(size)) })
			fmt.Printf(" %s", strings.TrimSpace(fmt.Sprintf(c.format, lo))+"–"+strings.TrimSpace(fmt.Sprintf(c.format, hi)))
		}
		fmt.Println()
	}
	if o, a := medians["ours"], medians["anacrolix"]; o != nil && a != nil {
		fmt.Printf("\nours/anacrolix: throughput %.2fx, leecher CPU per GiB %.2fx, leecher peak RSS %.2fx\n", o[0]/a[0], o[4]/a[4], o[5]/a[5])
	}
	if p.profile != "" {
		fmt.Printf("\nprofiles in %s: go tool pprof -top %s\n", p.profile, filepath.Join(p.profile, "leech-"+impls[0]+"-1.pprof"))
		if p.perf {
			fmt.Printf("perf report --stdio --no-children -i %s\n", filepath.Join(p.profile, "leech-"+impls[0]+"-1.perf.data"))
		}
	}
	return nil
}

// plainName reports whether name is one plain path element: letters,
// digits, '.', '-' and '_', and neither "." nor "..".
func plainName(name string) bool {
	if name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// rows returns the rows to run, in turn, and the -bin rows' binaries.
func (p params) rows() (impls []string, bins map[string]string, err error) {
	bins = map[string]string{}
	for _, b := range p.bins {
		if _, err := os.Stat(b.path); err != nil {
			return nil, nil, fmt.Errorf("-bin %s: %w", b.name, err)
		}
		bins[b.name] = b.path
	}
	if p.only == "" {
		impls = []string{"ours", "anacrolix"}
		if p.example {
			impls = append(impls, "example")
		}
		for _, b := range p.bins {
			impls = append(impls, b.name)
		}
		return impls, bins, nil
	}
	for _, name := range strings.Split(p.only, ",") {
		_, isBin := bins[name]
		switch {
		case contains(impls, name):
			return nil, nil, fmt.Errorf("-only %q: %s given twice", p.only, name)
		case name == "ours" || name == "anacrolix" || name == "example" || isBin:
			impls = append(impls, name)
		default:
			return nil, nil, fmt.Errorf("-only %q: %q is not ours, anacrolix, example or a -bin name", p.only, name)
		}
	}
	return impls, bins, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// width is the field width a column's format prints.
func width(format string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(format, ".", 2)[0], "%"))
	return n
}

// spread returns the least and greatest of f over rs.
func spread(rs []result, f func(result) float64) (lo, hi float64) {
	for i, r := range rs {
		v := f(r)
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// transferSpec is one transfer: a seeder and a leecher process.
type transferSpec struct {
	self, impl, tf, src, dst string
	want                     [32]byte
	// exampleBin is examples/leecher's binary, for impl "example";
	// exampleProfile, if set, where it writes its CPU profile
	// (-cpuprofile).
	exampleBin, exampleProfile string
	// leechProfile and seedProfile are where the children write CPU
	// profiles, perfData where perf record writes (all optional).
	leechProfile, seedProfile, perfData string
}

// run runs one seeder and one leecher process and measures them.
func (t transferSpec) run() (result, error) {
	seedImpl := t.impl
	if seedImpl == "example" {
		seedImpl = "ours"
	}
	seed := exec.Command(t.self, append([]string{"-role", "seed", "-impl", seedImpl, "-torrent", t.tf, "-dir", t.src}, opts.args()...)...)
	seed.Stderr = os.Stderr
	if t.seedProfile != "" {
		seed.Env = append(os.Environ(), profileEnv+"="+t.seedProfile)
	}
	out, err := seed.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := seed.Start(); err != nil {
		return result{}, err
	}
	defer stopSeeder(seed)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return result{}, fmt.Errorf("seeder did not report its address: %w", err)
	}
	addr := strings.TrimSpace(line)
	if err := os.MkdirAll(t.dst, 0o755); err != nil {
		return result{}, err
	}
	var args []string
	if t.impl == "example" {
		args = []string{t.exampleBin, "-listen", "127.0.0.1:0", "-dir", t.dst, "-peer", addr, "-progress", "1h"}
		if t.exampleProfile != "" {
			args = append(args, "-cpuprofile", t.exampleProfile)
		}
		args = append(args, t.tf)
	} else {
		args = append([]string{t.self, "-role", "leech", "-impl", t.impl, "-torrent", t.tf, "-dir", t.dst, "-peer", addr}, opts.args()...)
	}
	if t.perfData != "" {
		args = append([]string{"perf", "record", "-g", "-q", "-o", t.perfData, "--"}, args...)
	}
	leech := exec.Command(args[0], args[1:]...)
	var logs bytes.Buffer
	leech.Stdout, leech.Stderr = &logs, &logs
	if t.leechProfile != "" {
		leech.Env = append(os.Environ(), profileEnv+"="+t.leechProfile)
	}
	seedUser0, seedSys0, _ := procCPU(seed.Process.Pid)
	start := time.Now()
	if err := leech.Run(); err != nil {
		return result{}, fmt.Errorf("leecher: %w\n%s", err, logs.Bytes())
	}
	res := result{secs: time.Since(start).Seconds()}
	if u, s, err := procCPU(seed.Process.Pid); err == nil {
		res.seedUser, res.seedSys = u-seedUser0, s-seedSys0
	}
	res.seedRSS = procHWM(seed.Process.Pid)
	if ru, ok := leech.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.leechUser = time.Duration(ru.Utime.Nano()).Seconds()
		res.leechSys = time.Duration(ru.Stime.Nano()).Seconds()
		res.leechRSS = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	got, err := fileSum(filepath.Join(t.dst, "payload.bin"))
	if err != nil {
		return res, err
	}
	if got != t.want {
		return res, errors.New("the downloaded file differs from the source")
	}
	_ = os.RemoveAll(t.dst)
	return res, nil
}

// stopSeeder asks the seeder to stop (so that its profile is written) and
// kills it after 10 s.
func stopSeeder(seed *exec.Cmd) {
	_ = seed.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = seed.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = seed.Process.Kill()
		<-done
	}
}

// procCPU returns a running process's user and system CPU in seconds from
// /proc/PID/stat (Linux; clock ticks of 1/100 s, as the kernel's ABI fixes
// them for user space).
func procCPU(pid int) (user, sys float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc stat")
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, err
	}
	return u / 100, s / 100, nil
}

// procHWM returns a running process's peak resident set in MiB (VmHWM in
// /proc/PID/status), or 0.
func procHWM(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// makeTorrent writes size random bytes to dir/payload.bin and its .torrent.
func makeTorrent(dir string, size, pieceLen int64) (string, [32]byte, error) {
	var sum [32]byte
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", sum, err
	}
	path := filepath.Join(dir, "payload.bin")
	f, err := os.Create(path)
	if err != nil {
		return "", sum, err
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		f.Close()
		return "", sum, err
	}
	if err := f.Close(); err != nil {
		return "", sum, err
	}
	h.Sum(sum[:0])
	info := metainfo.Info{PieceLength: pieceLen}
	if err := info.BuildFromFilePath(path); err != nil {
		return "", sum, err
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return "", sum, err
	}
	tf := filepath.Join(filepath.Dir(dir), "bench.torrent")
	out, err := os.Create(tf)
	if err != nil {
		return "", sum, err
	}
	defer out.Close()
	return tf, sum, (&metainfo.MetaInfo{InfoBytes: ib}).Write(out)
}
