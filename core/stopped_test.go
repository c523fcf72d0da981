package core_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// What a restart records of a call and a transfer a stopped process left
// live: the call ended with its duration, the transfer canceled with a
// step, its attempt under way ended and that attempt's leg with it.
func TestStoppedCallAndTransfer(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	started := at.Add(-90*time.Second - 600*time.Millisecond)
	c := core.Call{Status: core.CallInProgress, StartedAt: &started}
	c.EndStopped(core.EndShutdown, at)
	if c.Status != core.CallEnded || c.EndReason != core.EndShutdown || *c.EndedAt != at || c.UpdatedAt != at || c.DurationSeconds != 91 {
		t.Errorf("ended call %+v", c)
	}
	ringing := core.Call{Status: core.CallRinging, DurationSeconds: 0}
	ringing.EndStopped(core.EndShutdown, at)
	if ringing.DurationSeconds != 0 || ringing.Status != core.CallEnded {
		t.Errorf("a call never answered: %+v", ringing)
	}

	tr := core.Transfer{
		Status: core.TransferRinging, Attempt: 2,
		Steps: []core.TransferStep{{Status: core.TransferRequested, Attempt: 1, At: started}},
		Attempts: []core.TransferAttempt{
			{Status: core.TransferFailed, LegStatus: core.LegFailed},
			{Status: core.TransferRinging, LegStatus: core.LegAnswered},
		},
	}
	tr.CancelStopped(at)
	if tr.Status != core.TransferCanceled || tr.Reason != core.TransferStoppedReason || *tr.EndedAt != at || tr.UpdatedAt != at || !tr.Final() {
		t.Errorf("canceled transfer %+v", tr)
	}
	wantStep := core.TransferStep{Status: core.TransferCanceled, Attempt: 2, Reason: core.TransferStoppedReason, At: at}
	if last := tr.Steps[len(tr.Steps)-1]; !reflect.DeepEqual(last, wantStep) || len(tr.Steps) != 2 {
		t.Errorf("steps %+v", tr.Steps)
	}
	if a := tr.Attempts[0]; a.Status != core.TransferFailed || a.LegStatus != core.LegFailed || a.EndedAt != nil {
		t.Errorf("the finished attempt changed: %+v", a)
	}
	if a := tr.Attempts[1]; a.Status != core.TransferCanceled || a.LegStatus != core.LegEnded || *a.EndedAt != at || a.Reason != core.TransferStoppedReason {
		t.Errorf("the attempt under way: %+v", a)
	}
}
