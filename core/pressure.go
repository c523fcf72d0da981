package core

import (
	"math"
	"sync/atomic"
	"time"
)

// pressure tells admission when a resource the calls fill (the heap, the
// open files) is used to three quarters of its limit. Every INVITE may
// ask; one reading in each interval of every answers them all.
type pressure struct {
	every time.Duration
	// read returns what is used and the limit; a limit of 0 (or none,
	// math.MaxInt64 and above) never presses.
	read      func() (used, limit uint64)
	checkedAt atomic.Int64 // UnixNano of the last reading
	high      atomic.Bool
}

// pressed reports whether the use was at or above three quarters of the
// limit at the last reading, reading again when that is older than every.
func (p *pressure) pressed(now time.Time) bool {
	at := p.checkedAt.Load()
	if now.UnixNano()-at < int64(p.every) || !p.checkedAt.CompareAndSwap(at, now.UnixNano()) {
		return p.high.Load()
	}
	used, limit := p.read()
	high := limit > 0 && limit < math.MaxInt64 && used >= limit/4*3
	p.high.Store(high)
	return high
}
