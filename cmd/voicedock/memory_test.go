package main

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
)

// TestMemoryLimitAndGCPace: the collector gets its slower pace unless
// GOGC is set, and a call cap gives the runtime its soft limit unless
// GOMEMLIMIT is set; with no cap there is no limit.
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
		{"cap", 1000, nil, goMemoryLimit(1000), gcPercent},
		{"no cap", 0, nil, math.MaxInt64, gcPercent},
		{"GOGC set", 1000, map[string]string{"GOGC": "100"}, goMemoryLimit(1000), 100},
		{"GOMEMLIMIT set", 1000, map[string]string{"GOMEMLIMIT": "1GiB"}, math.MaxInt64, gcPercent},
		{"no cap, GOGC set", 0, map[string]string{"GOGC": "100"}, math.MaxInt64, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			restore()
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			setGCLimits(c.maxCalls, logger)
			if got := debug.SetMemoryLimit(-1); got != c.wantLimit {
				t.Errorf("memory limit %d, want %d", got, c.wantLimit)
			}
			if got := debug.SetGCPercent(100); got != c.wantGC {
				t.Errorf("GC percent %d, want %d", got, c.wantGC)
			}
		})
	}
}
