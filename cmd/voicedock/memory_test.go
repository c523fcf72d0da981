package main

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
)

// TestMemoryLimitAndGCPace: a call cap gives the runtime its soft limit
// and the collector its slower pace under it; no cap, or GOMEMLIMIT or
// GOGC set by the operator, leaves the runtime's settings alone.
func TestMemoryLimitAndGCPace(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	restore := func() {
		debug.SetMemoryLimit(math.MaxInt64)
		debug.SetGCPercent(100)
	}
	t.Cleanup(restore)
	cases := []struct {
		name      string
		maxCalls  int
		env       map[string]string
		wantLimit int64
		wantGC    int
	}{
		{"cap", 1000, nil, goMemoryLimit(1000), gcPercentUnderLimit},
		{"no cap", 0, nil, math.MaxInt64, 100},
		{"GOGC set", 1000, map[string]string{"GOGC": "100"}, goMemoryLimit(1000), 100},
		{"GOMEMLIMIT set", 1000, map[string]string{"GOMEMLIMIT": "1GiB"}, math.MaxInt64, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			restore()
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			setMemoryLimit(c.maxCalls, logger)
			if got := debug.SetMemoryLimit(-1); got != c.wantLimit {
				t.Errorf("memory limit %d, want %d", got, c.wantLimit)
			}
			if got := debug.SetGCPercent(100); got != c.wantGC {
				t.Errorf("GC percent %d, want %d", got, c.wantGC)
			}
		})
	}
}
