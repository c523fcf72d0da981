package core

import (
	"errors"
	"io"
	"math"
	"os"
	"syscall"
)

// openFiles counts the process's open descriptors in /proc/self/fd (what
// the kernel counts against RLIMIT_NOFILE; no library reads it more
// cheaply) and reads the limit. With no descriptor left to read the
// table, the files are at the limit.
func openFiles() (open, limit uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == math.MaxUint64 {
		return 0, 0
	}
	dir, err := os.Open("/proc/self/fd")
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return rl.Cur, rl.Cur
	}
	if err != nil {
		return 0, 0
	}
	defer dir.Close()
	n := 0
	for {
		names, err := dir.Readdirnames(1024)
		n += len(names)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0
		}
	}
	return uint64(max(n-1, 0)), rl.Cur // not the table's own descriptor
}
