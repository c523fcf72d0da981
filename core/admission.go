package core

import (
	"fmt"
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
//     of a slot, or because the store did not take its first write in
//     time, less than a second ago. The transfers in flight are the
//     transfer rate times the time each takes (Little's law), so they rise
//     both when more transfers are asked for than complete and when each
//     takes longer because the store or the network is behind; the count
//     is one mutex-guarded map length, and its bound is the one an
//     operator already sets. With no transfer limit this never refuses.
//   - while a transfer step waits more than 250 ms for its store write,
//     on a moving average (stepWrites): a NOTIFY is answered once its step
//     is stored, and beyond half of SIP's T1 (500 ms) the peer starts
//     retransmitting it. This is the queue behind the store's one writer
//     (group commit, webhook rows and outcomes), seen where it hurts.
//     Only with a transfer limit set and a quarter of it in flight: with
//     fewer the wait is not the work taken on (a slow disk, a busy
//     machine), and refusing calls would not shorten it.
//   - while the heap live after the last collection fills three quarters
//     of the Go memory limit (newHeapPressure): the work taken on is about
//     to outgrow the memory budget.
//   - while the open files fill three quarters of the process's limit
//     (newFilePressure), whatever the caps: past it nothing new can be
//     opened, the next call's RTP socket and the store's files alike.
//
// Calls already answered are never touched by it.
func (m *Calls) AdmitCall() bool { return m.refusal(time.Now()) == "" }

// refusal is why a new call is refused at now, "" when it is admitted.
func (m *Calls) refusal(now time.Time) string {
	why := ""
	switch {
	case !m.slots.admits(now):
		why = "the server is behind on the transfers it took on"
	case m.slots.max > 0 && m.slots.inFlight() >= max(1, m.slots.max/4) && m.slots.writes.slow(now):
		why = "transfer steps wait too long for the store"
	case m.slots.heap.pressed(now):
		why = "the live heap is near the memory limit"
	case m.slots.files.pressed(now):
		why = "the open files are near the process's limit"
	}
	m.slots.log.report(m, now, why)
	return why
}

// dialRefused is the refusal of create_call while new calls are refused:
// nothing was stored or sent, and a retry after RetryAfter seconds may
// succeed.
func dialRefused(why string) *Error {
	return &Error{
		Code: CodeOverloaded, RetryAfter: overloadRetryAfter,
		Message: fmt.Sprintf("new calls are refused for now: %s; no call was placed; retry after %d seconds", why, overloadRetryAfter),
	}
}

// admissionLog logs the changes of AdmitCall's answer, not each answer
// (under overload there are hundreds a second), and at most one a second:
// near a bound the answer can change with every transfer that starts or
// ends. Each line counts the INVITEs refused since the one before.
type admissionLog struct {
	mu      sync.Mutex
	why     string    // "" while calls are admitted, as of the last line
	at      time.Time // of the last line
	refused int       // new calls refused since the last line
}

func (l *admissionLog) report(m *Calls, now time.Time, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if why != "" {
		l.refused++
	}
	if why == l.why || now.Sub(l.at) < time.Second {
		return
	}
	if why == "" {
		m.logger.Info("new calls admitted again", "refused", l.refused,
			"transfers_in_flight", m.slots.inFlight(), "max_transfers_in_flight", m.slots.max)
	} else {
		m.logger.Warn("new calls refused with 503: "+why, "refused", l.refused,
			"transfers_in_flight", m.slots.inFlight(), "max_transfers_in_flight", m.slots.max)
	}
	l.why, l.at, l.refused = why, now, 0
}

// admissionState is what AdmitCall keeps, beside the transfer slots.
type admissionState struct {
	// refusedAt is when a transfer was last refused for want of a slot
	// (UnixNano; 0: never).
	refusedAt atomic.Int64
	writes    stepWrites
	heap      *pressure // heap_pressure.go
	files     *pressure // file_pressure.go
	log       admissionLog
}

// storeWaitBound is the moving average of the transfer steps' store
// writes beyond which new calls are refused: half of SIP's T1, the time
// after which a peer retransmits a request not yet answered.
const storeWaitBound = 250 * time.Millisecond

// stepWrites keeps a moving average (1/8 weight to each new write) of how
// long a transfer step's store write took, and when the last one ended.
// Updates race benignly: a lost sample only slows the average down.
type stepWrites struct {
	avg  atomic.Int64 // nanoseconds
	last atomic.Int64 // UnixNano
}

// took records a write that started at start.
func (w *stepWrites) took(start time.Time) {
	now := time.Now()
	avg := w.avg.Load()
	w.avg.Store(avg + (int64(now.Sub(start))-avg)/8)
	w.last.Store(now.UnixNano())
}

// slow reports whether the average is beyond storeWaitBound and fresh:
// with no write for a second it says nothing (nothing is waiting), so a
// pause in transfers does not keep new calls out.
func (w *stepWrites) slow(now time.Time) bool {
	return now.UnixNano()-w.last.Load() < int64(time.Second) && time.Duration(w.avg.Load()) > storeWaitBound
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
