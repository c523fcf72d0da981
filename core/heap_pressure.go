package core

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// heapPressureEvery is how often admission reads the heap: the live heap
// changes once per collection (several a second under load), and a read
// costs about a microsecond, so every INVITE may ask but one read in this
// interval answers them all.
const heapPressureEvery = 100 * time.Millisecond

// newHeapPressure returns what tells admission when the heap that
// survived the last collection reaches three quarters of the Go memory
// limit (GOMEMLIMIT, or the one the server sets from VOICEDOCK_MAX_CALLS).
// Past that point the collector runs ever more often to stay under the
// limit, and once it cannot the process outgrows its memory budget: work
// already taken on (calls answered, transfers in flight, SIP transactions
// still absorbing retransmissions) is what fills it, so the answer is to
// take on no more until it drains. With no limit it never presses.
func newHeapPressure() *pressure { return &pressure{every: heapPressureEvery, read: runtimeHeap} }

// runtimeHeap is the Go runtime's live heap (marked by the last
// collection) and its soft memory limit.
func runtimeHeap() (live, limit uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		live = s[0].Value.Uint64()
	}
	if l := debug.SetMemoryLimit(-1); l > 0 {
		limit = uint64(l)
	}
	return live, limit
}
