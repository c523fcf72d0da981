package core_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TestShutdownWaitsForTheManagersWork runs on synctest's clock: a REFER
// whose SIP side takes a second to give up once cancelled must be over
// when Shutdown returns (the store closes next), and Shutdown must not
// wait out the REFER's own 32 s bound either.
func TestShutdownWaitsForTheManagersWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, core.CallsConfig{})
		var finished atomic.Bool
		f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
			<-ctx.Done()
			time.Sleep(time.Second) // a transaction layer winding down
			finished.Store(true)
			return 0, ctx.Err()
		}
		done := make(chan error, 1)
		go func() {
			_, err := f.calls.Transfer(context.Background(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
			done <- err
		}()
		synctest.Wait() // the REFER is out and waiting
		start := time.Now()
		f.calls.Shutdown(context.Background())
		if !finished.Load() {
			t.Fatal("Shutdown returned while the REFER's goroutine was still running")
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Shutdown took %s, want the 1s the REFER took to wind down", waited)
		}
		if err := <-done; !core.HasCode(err, core.CodeCallNotActive) {
			t.Errorf("transfer at shutdown: %v", err)
		}
		c, err := f.store.GetCall(t.Context(), f.callID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != core.CallEnded || c.EndReason != core.EndShutdown || c.Transfers[0].Status != core.TransferCanceled ||
			c.Transfers[0].Reason != core.TransferStoppedReason {
			t.Errorf("stored call %s/%s, transfer %+v", c.Status, c.EndReason, c.Transfers[0])
		}
		// Work asked for after Shutdown is not started.
		if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil); !core.HasCode(err, core.CodeCallNotActive) {
			t.Errorf("transfer after shutdown: %v", err)
		}
	})
}

// TestEndingATransferWithdrawsItsREFER: whether blind or warm, a REFER
// still waiting for its answer when the transfer ends (here: the caller
// hangs up) stops waiting at once rather than at its 32 s bound.
func TestEndingATransferWithdrawsItsREFER(t *testing.T) {
	for _, mode := range []string{core.ModeBlind, core.ModeWarm} {
		t.Run(mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, _, _ := modesFixture(t, 0)
				withdrawn := make(chan time.Time, 1)
				f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
					<-ctx.Done()
					withdrawn <- time.Now()
					return 0, ctx.Err()
				}
				done := make(chan error, 1)
				go func() {
					_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: mode}, nil)
					done <- err
				}()
				synctest.Wait() // the REFER is out and waiting
				if len(f.sip.referTarget) != 1 {
					t.Fatalf("REFERs sent: %+v", f.sip.referTarget)
				}
				hungUp := time.Now()
				f.calls.CallEnded(t.Context(), f.callID, core.EndCallerHangup)
				if err := <-done; !core.HasCode(err, core.CodeCallNotActive) {
					t.Errorf("transfer of a caller who hung up: %v", err)
				}
				synctest.Wait()
				select {
				case at := <-withdrawn:
					if at != hungUp {
						t.Errorf("the REFER was withdrawn %s after the transfer ended", at.Sub(hungUp))
					}
				default:
					t.Fatal("the REFER is still waiting after the transfer ended")
				}
			})
		})
	}
}

// TestDialingCallAtShutdownIsEnded: a call still dialing when the server
// stops is recorded as the next start's recovery records it, whether the
// SIP layer reports it (its shutdown CANCELs the INVITE) or the call
// manager's own Shutdown finds it.
func TestDialingCallAtShutdownIsEnded(t *testing.T) {
	for _, path := range []string{"sip", "calls"} {
		t.Run(path, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t, core.CallsConfig{})
				ctx := t.Context()
				dialing := make(chan string, 1)
				f.sip.dial = func(ctx context.Context, d core.OutboundDial) error {
					dialing <- d.CallID
					<-ctx.Done() // the ringing goes on until the call is given up
					return &core.Error{Code: core.CodeUnavailable, Message: "the call was hung up before it was answered", SIPStatus: 487}
				}
				dialDone := make(chan error, 1)
				go func() {
					_, err := f.calls.Dial(ctx, core.DialRequest{NumberID: numberID(t, f), Destination: "+31612345678"})
					dialDone <- err
				}()
				id := <-dialing
				switch path {
				case "sip":
					// The SIP layer's shutdown CANCELs the INVITE and
					// reports the end before the dial returns.
					f.calls.CallEnded(ctx, id, core.EndShutdown)
				case "calls":
					f.calls.Shutdown(ctx)
				}
				f.calls.Shutdown(ctx) // ends the dial, if the SIP side has not
				if err := <-dialDone; err == nil {
					t.Error("Dial of a call given up at shutdown succeeded")
				}
				live, err := f.store.GetCall(ctx, id)
				if err != nil {
					t.Fatal(err)
				}

				// The same call as a restart finds it: stored as dialing.
				recovered := live
				recovered.ID, recovered.Status, recovered.EndReason, recovered.EndedAt = "recovered-"+id, core.CallDialing, "", nil
				if err := f.store.CreateCall(ctx, recovered); err != nil {
					t.Fatal(err)
				}
				if _, err := f.store.EndLiveCalls(ctx, core.EndShutdown, time.Now()); err != nil {
					t.Fatal(err)
				}
				restart, err := f.store.GetCall(ctx, recovered.ID)
				if err != nil {
					t.Fatal(err)
				}
				if live.Status != core.CallEnded || live.EndReason != core.EndShutdown ||
					restart.Status != live.Status || restart.EndReason != live.EndReason {
					t.Errorf("live shutdown: %s/%s; restart's recovery: %s/%s; want both %s/%s",
						live.Status, live.EndReason, restart.Status, restart.EndReason, core.CallEnded, core.EndShutdown)
				}
			})
		})
	}
}

func numberID(t *testing.T, f *fixture) string {
	t.Helper()
	numbers, _, err := f.svc.ListPhoneNumbers(t.Context(), core.Page{})
	if err != nil || len(numbers) != 1 {
		t.Fatalf("numbers: %v %v", numbers, err)
	}
	return numbers[0].ID
}

// TestTransferCatchesUpAfterLagging: a transfer whose onStep is too slow
// for the bus's bound (an MCP client not reading its progress) is cut off
// the bus, and still follows the transfer to its end from the call's
// record: nothing stored is lost to it.
func TestTransferCatchesUpAfterLagging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixtureWithBus(t, core.CallsConfig{}, core.NewBusWithLimit(1))
		// The NOTIFYs wait for the 202's step, so that every step is taken.
		accepted := make(chan struct{})
		f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
			go func() {
				<-accepted
				for _, status := range []int{100, 180, 200} {
					f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: status})
				}
			}()
			return 202, nil
		}
		var seen []string
		onStep := func(tr core.Transfer) {
			if tr.Status == core.TransferAccepted {
				close(accepted)
				synctest.Wait() // slow: the rest of the transfer happens meanwhile
			}
			seen = append(seen, tr.Status)
		}
		tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, onStep)
		if err != nil || tr.Status != core.TransferCompleted || len(tr.Steps) != 5 {
			t.Fatalf("transfer = %+v, %v", tr, err)
		}
		if seen[0] != core.TransferRequested || seen[len(seen)-1] != core.TransferCompleted {
			t.Errorf("steps seen %v: want requested first, completed last", seen)
		}
	})
}
