package core

import (
	"sync/atomic"
	"time"
)

// filePressureEvery is how often admission counts the process's open
// files. A count reads the descriptor table, whose cost grows with it (a
// millisecond or two at 15,000), so it is not made per INVITE; at the
// call rates the server holds, a quarter of a second adds a few hundred
// descriptors, well inside the quarter of the limit kept in reserve.
const filePressureEvery = 250 * time.Millisecond

// filePressure tells admission when the open files fill three quarters of
// the process's limit (RLIMIT_NOFILE). Each call held takes a descriptor
// (its RTP socket) and each agent's connection another, and past the
// limit nothing new can be opened: not the next call's socket, not the
// next connection, and not a file SQLite asks for. With the caps off
// (VOICEDOCK_MAX_CALLS=0) or above what the limit holds, this is the bound
// that is left, so it applies whatever the caps; the quarter kept serves
// the calls already answered (their transfers' legs, the webhooks, the
// store's readers). Where the count cannot be read it never presses.
type filePressure struct {
	// read returns the files open and the limit; 0, 0 when unknown.
	read      func() (open, limit uint64)
	checkedAt atomic.Int64 // UnixNano of the last read
	high      atomic.Bool
}

func newFilePressure() *filePressure { return &filePressure{read: openFiles} }

// pressed reports whether the open files were at or above three quarters
// of the limit at the last count, counting again when that is older than
// filePressureEvery.
func (p *filePressure) pressed(now time.Time) bool {
	at := p.checkedAt.Load()
	if now.UnixNano()-at < int64(filePressureEvery) || !p.checkedAt.CompareAndSwap(at, now.UnixNano()) {
		return p.high.Load()
	}
	open, limit := p.read()
	high := limit > 0 && open >= limit/4*3
	p.high.Store(high)
	return high
}
