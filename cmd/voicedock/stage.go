package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// stage is a set of the server's goroutines that stop together: the
// listeners, the SIP user agent, the background workers. Each goroutine is
// owned by the stage's errgroup, and stop waits for every one of them, so
// that what comes after in the shutdown order (in the end, closing the
// store) never runs beside them.
type stage struct {
	ctx    context.Context
	cancel context.CancelFunc
	group  errgroup.Group
	// end ends the whole run, with the reason: a component that stops by
	// itself takes the server down rather than leave it half working.
	end context.CancelCauseFunc
	// stopping is set once the shutdown has begun to stop the stage's
	// services, some of which return before their context ends.
	stopping atomic.Bool
}

// newStage returns a stage whose goroutines run on ctx until stop. end
// may be nil for a stage without services.
func newStage(ctx context.Context, end context.CancelCauseFunc) *stage {
	ctx, cancel := context.WithCancel(ctx)
	if end == nil {
		end = func(error) {}
	}
	return &stage{ctx: ctx, cancel: cancel, end: end}
}

// task runs fn on the stage: work whose end, early or not, changes nothing
// else (a loop that may have nothing to do, a listener that is optional).
func (s *stage) task(fn func(ctx context.Context)) {
	s.group.Go(func() error {
		fn(s.ctx)
		return nil
	})
}

// service runs serve on the stage as a part the server cannot do without.
// It returns once serve calls ready, or with serve's error when serve
// returns first. When serve returns later, before stop, the run ends with
// the error: "name: err", or "name: what stopped" for a nil error.
func (s *stage) service(name, what string, serve func(ctx context.Context, ready func()) error) error {
	up := make(chan struct{})
	failed := make(chan error, 1)
	s.group.Go(func() error {
		err := serve(s.ctx, func() { close(up) })
		if s.stopping.Load() || s.ctx.Err() != nil {
			return nil // stopped by the shutdown
		}
		if err == nil {
			err = fmt.Errorf("%s stopped", what)
		}
		err = fmt.Errorf("%s: %w", name, err)
		failed <- err
		s.end(err)
		return err
	})
	select {
	case <-up:
		return nil
	case err := <-failed:
		return err
	}
}

// stop cancels the stage's context and waits for all its goroutines. It
// may be called on a nil stage (one that never started), and again.
func (s *stage) stop() {
	s.stopWith(func() {})
}

// stopWith runs shutdown, a graceful stop of the stage's services that
// makes them return, then stops the stage.
func (s *stage) stopWith(shutdown func()) {
	if s == nil {
		return
	}
	s.stopping.Store(true)
	shutdown()
	s.cancel()
	_ = s.group.Wait() // a failure has ended the run already, with its reason
}
