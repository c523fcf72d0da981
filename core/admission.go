package core

import (
	"sync"
	"sync/atomic"
	"time"
)

// CallAdmitter is asked by the SIP layer before it takes on a new inbound
// call, on top of its own cap on the calls held (VOICEDOCK_MAX_CALLS): a
// call it refuses gets 503 with Retry-After before the core is asked
// about it. Calls implements it; the SIP user agent uses it when its
// SignalHandler does.
type CallAdmitter interface {
	// AdmitCall reports whether a new call may be answered now. It is
	// called for every new INVITE, so it must be cheap and never block.
	AdmitCall() bool
}

// admissionHold is how long after a transfer was refused for want of a
// slot new calls stay refused: the refusal's retry_after, so that while
// answered callers are still retrying their transfers (a backlog the
// slots could not take) no new caller joins them.
const admissionHold = overloadRetryAfter * time.Second

// admissionReserve is the share of the transfer slots kept for the calls
// already answered: new calls are refused once in-flight transfers reach
// max-max/admissionReserve. The calls answered just before the gate
// closed, and those still being set up, ask for their transfers after it
// did; the reserve lets them in instead of refusing them.
const admissionReserve = 4

// AdmitCall refuses new calls while the server is not keeping up with the
// work it already took on:
//   - while the transfers in flight fill three quarters of
//     VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT, or a transfer was refused for want
//     of a slot less than a second ago. The transfers in flight are the
//     transfer rate times the time each takes (Little's law), so they rise
//     both when more transfers are asked for than complete and when each
//     takes longer because the store or the network is behind; the count
//     is one mutex-guarded map length, and its bound is the one an
//     operator already sets. With no transfer limit this never refuses.
//   - while the heap live after the last collection fills three quarters
//     of the Go memory limit (heapPressure): the work taken on is about to
//     outgrow the memory budget.
//
// Calls already answered are never touched by it.
func (m *Calls) AdmitCall() bool {
	now := time.Now()
	why := ""
	switch {
	case !m.slots.admits(now):
		why = "the server is behind on the transfers it took on"
	case m.slots.heap.pressed(now):
		why = "the live heap is near the memory limit"
	}
	m.slots.log.report(m, why)
	return why == ""
}

// admissionLog logs the changes of AdmitCall's answer, not each answer:
// under overload there are hundreds a second.
type admissionLog struct {
	mu  sync.Mutex
	why string // "" while calls are admitted
}

func (l *admissionLog) report(m *Calls, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if why == l.why {
		return
	}
	if why == "" {
		m.logger.Info("new calls admitted again", "transfers_in_flight", m.slots.inFlight(), "max_transfers_in_flight", m.slots.max)
	} else {
		m.logger.Warn("new calls refused with 503: "+why, "transfers_in_flight", m.slots.inFlight(), "max_transfers_in_flight", m.slots.max)
	}
	l.why = why
}

// admissionState is what AdmitCall keeps, beside the transfer slots.
type admissionState struct {
	// refusedAt is when a transfer was last refused for want of a slot
	// (UnixNano; 0: never).
	refusedAt atomic.Int64
	heap      *heapPressure
	log       admissionLog
}

// refused records a transfer refused for want of a slot.
func (s *transferSlots) refused(now time.Time) { s.refusedAt.Store(now.UnixNano()) }

// admits reports whether a new call may be taken on at now.
func (s *transferSlots) admits(now time.Time) bool {
	if s.max <= 0 {
		return true
	}
	if at := s.refusedAt.Load(); at != 0 && now.Sub(time.Unix(0, at)) < admissionHold {
		return false
	}
	return s.inFlight() < s.highWater()
}

// highWater is the transfers in flight at which new calls are refused.
func (s *transferSlots) highWater() int {
	return max(1, s.max-s.max/admissionReserve)
}
