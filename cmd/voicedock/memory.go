package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// The memory budget the server holds itself to: a base for the process
// (store, MCP sessions, the transfers in flight, the webhook outbox's
// working set) plus what each live call holds (its RTP socket and
// receiver measure ~27 KiB).
const (
	memoryBase    = 300 << 20
	memoryPerCall = 30 << 10
	// memoryOutsideGo is the part of the RSS the Go runtime neither sees
	// nor limits, measured under the bench's overload phase: the binary's
	// code and data paged in from its file (~24 MiB), SQLite's page caches
	// (modernc.org/sqlite allocates them outside the Go heap: 2 MiB per
	// connection, five connections), the pages of the database the
	// readers map (under 2 MiB there) and thread stacks, with room for the
	// runtime running a little past its soft limit. At 48 MiB the bench's
	// overload peaked at 310-318 MiB for ten runs, then at 329 MiB of a
	// 329.3 MiB budget: 8 MiB more keeps the budget with room.
	memoryOutsideGo = 56 << 20
	// gcPercent is the collector's pace: the default of 100 collected ~4
	// times a second at a few hundred transfers a second (~15% of the
	// CPU). 200 halves that: at 750 transfers a second over MCP (the
	// bench's ramp, which runs without a call cap) the p50 transfer took
	// 333-489 ms against 731-1,125 ms at 100, at the same RSS, since the
	// server fell behind less. A soft limit, where there is one, still
	// caps the heap.
	gcPercent = 200
)

// setGCLimits sets the collector's pace to gcPercent unless GOGC is set,
// and gives the Go runtime a soft limit of the memory budget for maxCalls
// calls less memoryOutsideGo unless GOMEMLIMIT is set, so that under a
// burst the collector works harder before the process outgrows the
// budget, and admission (core.Calls.AdmitCall) refuses new calls once the
// live heap fills three quarters of it. With no call cap there is no
// budget and no limit: the heap may then grow to three times what is live
// between collections (twice at GOGC=100), and GOMEMLIMIT bounds it.
func setGCLimits(maxCalls int, logger *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); set || maxCalls <= 0 {
		return
	}
	limit := goMemoryLimit(maxCalls)
	debug.SetMemoryLimit(limit)
	logger.Debug("Go memory limit set from VOICEDOCK_MAX_CALLS", "bytes", limit, "max_calls", maxCalls)
}

// goMemoryLimit is the Go runtime's share of the budget for maxCalls.
func goMemoryLimit(maxCalls int) int64 {
	return memoryBase + int64(maxCalls)*memoryPerCall - memoryOutsideGo
}
