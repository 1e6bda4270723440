package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"

	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

// startProfiles starts a CPU profile into cpuPath and returns what ends
// it and writes a heap profile into memPath (either path empty: that
// profile is not taken). The files are created at once, so that a path
// that cannot be written is refused before the download starts.
func startProfiles(cpuPath, memPath string) (stop func() error, err error) {
	if cpuPath != "" && memPath != "" && filepath.Clean(cpuPath) == filepath.Clean(memPath) {
		return nil, cli.Setupf("-cpuprofile and -memprofile name one file, %s: both would write into it", cpuPath)
	}
	var cpu, mem *os.File
	if memPath != "" {
		if mem, err = os.Create(memPath); err != nil {
			return nil, cli.Setupf("-memprofile: %w", err)
		}
	}
	if cpuPath != "" {
		if cpu, err = os.Create(cpuPath); err != nil {
			closeIf(mem)
			return nil, cli.Setupf("-cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			closeIf(cpu)
			closeIf(mem)
			return nil, cli.Setupf("-cpuprofile: %w", err)
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				errs = append(errs, fmt.Errorf("-cpuprofile: %w", err))
			}
		}
		if mem != nil {
			runtime.GC() // the heap as of the last collection: make it now
			if err := pprof.Lookup("heap").WriteTo(mem, 0); err != nil {
				errs = append(errs, fmt.Errorf("-memprofile: %w", err))
			}
			if err := mem.Close(); err != nil {
				errs = append(errs, fmt.Errorf("-memprofile: %w", err))
			}
		}
		return errors.Join(errs...)
	}, nil
}

func closeIf(f *os.File) {
	if f != nil {
		_ = f.Close()
	}
}
