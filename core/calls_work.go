package core

import (
	"context"
	"sync"
	"time"
)

// sipTransactionTimeout bounds the wait for the answer to a REFER or a
// BYE: 64*T1, the time a SIP non-INVITE transaction takes to give up
// (RFC 3261 17.1.2.2, Timer F), after which no answer can come.
const sipTransactionTimeout = 64 * 500 * time.Millisecond

// workers owns the goroutines and timers the call manager starts beside
// a request (transfer attempts, REFERs, hang-ups, hold and bridge audio,
// greetings), so that Shutdown can wait for every one of them: after it
// returns none is left to write to a store that is about to close.
//
// A sync.WaitGroup alone cannot refuse work: one Add racing the final
// Wait is a misuse. The mutex orders each start against close, and what
// is started after close does not run.
type workers struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs fn in a goroutine of its own unless the manager has shut down;
// it reports whether fn runs.
func (w *workers) Go(fn func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.wg.Go(fn)
	return true
}

// AfterFunc runs fn after d, as time.AfterFunc does, unless the manager
// has shut down by then.
func (w *workers) AfterFunc(d time.Duration, fn func()) *time.Timer {
	return time.AfterFunc(d, func() { w.Go(fn) })
}

// close refuses new work and waits, at most until ctx ends, for the work
// started before.
func (w *workers) close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
