package core

import (
	"fmt"
	"sync"
	"time"
)

// DefaultMaxTransfersInFlight is the transfers that may be in flight at
// once (VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT) when none is configured.
//
// The memory budget is 300 MiB for the process plus 30 KiB per live call
// (a held call measures ~27 KiB: its RTP socket and receiver). Everything a
// transfer holds while it is in flight (its request, attempt goroutine,
// bus subscription, and the webhook rows and store writes queued behind
// it) comes out of the 300 MiB; unbounded, that queue is what took the
// server to 1.8 GiB at 1,000 transfers/s. A transfer in flight takes
// ~60 ms on a healthy line, so at the best measured rate (750-1,500/s)
// about 50-150 are in flight; 256 leaves room for slower destinations and
// bursts and refuses the backlog that a rate beyond the server's forms.
const DefaultMaxTransfersInFlight = 256

// overloadRetryAfter is the retry hint, in seconds, of a transfer refused
// at capacity: a transfer in flight ends within a second or two.
const overloadRetryAfter = 1

// storeBehind is the refusal of a transfer whose first write did not get
// its turn in the store within its deadline: the store is that far behind
// (an overload the caps did not stop, or a store that stopped answering).
// Nothing was sent and the call is as it was, so it is the overloaded
// refusal an agent retries, not an internal error it gives up on.
func storeBehind(waited time.Duration) *Error {
	return &Error{
		Code: CodeOverloaded, Param: "call_id", RetryAfter: overloadRetryAfter,
		Message: fmt.Sprintf("the store did not take the transfer within %s: it was not started and the call is untouched; retry after %d seconds", waited, overloadRetryAfter),
	}
}

// callBehind is the refusal of a transfer of a call whose earlier changes
// the store has not taken yet (store_behind.go): it is not started ahead
// of them, and it is the same overloaded refusal, retried.
func callBehind() *Error {
	return &Error{
		Code: CodeOverloaded, Param: "call_id", RetryAfter: overloadRetryAfter,
		Message: fmt.Sprintf("the store has not taken this call's earlier changes yet: the transfer was not started and the call is untouched; retry after %d seconds", overloadRetryAfter),
	}
}

// transferSlots counts the transfers in flight against
// CallsConfig.MaxTransfersInFlight. A slot is taken before a transfer is
// stored and given back when the transfer reaches a final status (or
// could not be stored), keyed by transfer id so that giving back twice is
// harmless.
type transferSlots struct {
	max  int // 0: no limit
	mu   sync.Mutex
	held map[string]struct{}
	admissionState
}

func newTransferSlots(limit int) *transferSlots {
	s := &transferSlots{max: limit, held: map[string]struct{}{}}
	s.heap = newHeapPressure()
	s.files = newFilePressure()
	return s
}

// full reports, without taking one, whether no slot is free: a cheap
// check made before a transfer's policy and routing reads. A transfer it
// finds no slot for is refused, which new calls' admission hears of.
func (s *transferSlots) full() bool {
	if s.max <= 0 {
		return false
	}
	s.mu.Lock()
	full := len(s.held) >= s.max
	s.mu.Unlock()
	if full {
		s.refused(time.Now())
	}
	return full
}

// take reserves a slot for the transfer, or returns the overload error.
func (s *transferSlots) take(callID, transferID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max > 0 && len(s.held) >= s.max {
		s.refused(time.Now())
		return overloaded(callID, s.max)
	}
	s.held[transferID] = struct{}{}
	return nil
}

// release gives the transfer's slot back, if it holds one.
func (s *transferSlots) release(transferID string) {
	s.mu.Lock()
	delete(s.held, transferID)
	s.mu.Unlock()
}

// inFlight is the number of transfers holding a slot.
func (s *transferSlots) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

// overloaded is the refusal of a transfer beyond capacity: nothing was
// stored or sent, the call is untouched, and a retry after RetryAfter
// seconds may succeed.
func overloaded(callID string, limit int) *Error {
	return &Error{
		Code: CodeOverloaded, Param: "call_id", RetryAfter: overloadRetryAfter,
		Message: fmt.Sprintf("the server is at its capacity of %d transfers in flight (VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT); call %s is untouched and still connected; retry after %d seconds",
			limit, callID, overloadRetryAfter),
	}
}

// TransfersInFlight is the number of transfers started and not yet at a
// final status.
func (m *Calls) TransfersInFlight() int { return m.slots.inFlight() }
