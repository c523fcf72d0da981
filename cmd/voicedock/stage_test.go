package main

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
)

// TestShutdownStageWaitsForItsGoroutines: stop returns only once every
// goroutine of the stage has returned.
func TestShutdownStageWaitsForItsGoroutines(t *testing.T) {
	t.Parallel()
	// synctest.Wait returns once every goroutine of the bubble is durably
	// blocked, so "stop has not returned" is a fact, not a guess after a
	// pause.
	synctest.Test(t, func(t *testing.T) {
		s := newStage(context.Background(), func(error) {})
		release := make(chan struct{})
		done := make(chan struct{})
		s.task(func(ctx context.Context) {
			<-ctx.Done()
			<-release // still busy after its context ended
			close(done)
		})
		stopped := make(chan struct{})
		go func() { s.stop(); close(stopped) }()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("stop returned while a goroutine of the stage still ran")
		default:
		}
		close(release)
		<-stopped
		select {
		case <-done:
		default:
			t.Fatal("stop returned before the goroutine did")
		}
		var never *stage
		never.stop() // a stage that never started
	})
}

// TestShutdownStageServiceEndsTheRun: a service that fails before it is
// ready fails its start; one that stops by itself later ends the run with
// its reason; one stopped by stop ends nothing.
func TestShutdownStageServiceEndsTheRun(t *testing.T) {
	t.Parallel()
	s := newStage(context.Background(), func(error) {})
	boom := errors.New("boom")
	if err := s.service("SIP", "the user agent", func(context.Context, func()) error { return boom }); !errors.Is(err, boom) || err.Error() != "SIP: boom" {
		t.Errorf("a service failing at start: %v", err)
	}

	run, end := context.WithCancelCause(context.Background())
	s = newStage(context.Background(), end)
	quit := make(chan struct{})
	if err := s.service("metrics", "the listener", func(_ context.Context, ready func()) error {
		ready()
		<-quit
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if run.Err() != nil {
		t.Fatal("the run ended while the service ran")
	}
	close(quit)
	<-run.Done()
	if err := context.Cause(run); err.Error() != "metrics: the listener stopped" {
		t.Errorf("run ended with %v", err)
	}

	run, end = context.WithCancelCause(context.Background())
	s = newStage(context.Background(), end)
	if err := s.service("SIP", "the user agent", func(ctx context.Context, ready func()) error {
		ready()
		<-ctx.Done()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.stop()
	if run.Err() != nil {
		t.Errorf("stopping the stage ended the run: %v", context.Cause(run))
	}

	// A service that a graceful shutdown makes return before its context
	// ends (the SIP user agent's Shutdown) is not a failure either.
	run, end = context.WithCancelCause(context.Background())
	s = newStage(context.Background(), end)
	graceful := make(chan struct{})
	if err := s.service("SIP", "the user agent", func(_ context.Context, ready func()) error {
		ready()
		<-graceful
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.stopWith(func() { close(graceful) })
	if run.Err() != nil {
		t.Errorf("a graceful stop ended the run: %v", context.Cause(run))
	}
}
