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
)

// setMemoryLimit gives the Go runtime a soft limit of 90% of the memory
// budget for maxCalls calls, so that under a burst the collector works
// harder before the process outgrows the budget (the rest is the
// runtime's and the kernel's slack). GOMEMLIMIT, when set, wins; with no
// call cap there is no budget and no limit.
func setMemoryLimit(maxCalls int, logger *slog.Logger) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set || maxCalls <= 0 {
		return
	}
	limit := (memoryBase + int64(maxCalls)*memoryPerCall) / 10 * 9
	debug.SetMemoryLimit(limit)
	logger.Debug("Go memory limit set from VOICEDOCK_MAX_CALLS", "bytes", limit, "max_calls", maxCalls)
}
