package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TestTransferAttemptsRoundTrip: a transfer with fallbacks and a warm leg
// comes back as stored, its steps still naming their attempts.
func testTransferAttemptsRoundTrip(t *testing.T, be Backend) {
	s := be.open(t)
	c := BareCall(t, core.CallInProgress)
	CreateCalls(t, s, c)
	tr := TransferFixture(t, c.ID, core.TransferTrying)
	tr.EndedAt = nil
	ts := tr.UpdatedAt
	tr.Mode, tr.Summary, tr.Attempt = core.ModeWarm, "Refund", 2
	for i := range tr.Steps {
		tr.Steps[i].Attempt = 1
	}
	tr.Steps = append(tr.Steps, core.TransferStep{Status: core.TransferTrying, Attempt: 2, At: ts})
	tr.Attempts = []core.TransferAttempt{
		{Destination: "+31207654321", DestinationType: "number", Mode: core.ModeBlind, ReferTo: "sip:+31207654321@pbx.example.com",
			SIPHeaders: []string{"X-Account"}, Status: core.TransferFailed, SIPStatus: 486, Reason: "the destination is busy",
			StartedAt: Ptr(ts.Add(-3 * time.Second)), EndedAt: Ptr(ts.Add(-time.Second))},
		{Destination: "sip:desk@pbx.example.com", DestinationType: "sip", Mode: core.ModeWarm, CallerID: "+31201234567",
			LegCallID: NewID(t), LegStatus: core.LegAnswered, Status: core.TransferTrying, StartedAt: Ptr(ts.Add(-time.Second))},
	}
	SaveTransfers(t, s, tr)
	got := GetCall(t, s, c.ID).Transfers[0]
	if !reflect.DeepEqual(got, tr) {
		t.Errorf("stored transfer\n got %+v\nwant %+v", got, tr)
	}

	// A restart ends the call: the attempt under way ends with it.
	at := ts.Add(time.Minute)
	if _, err := s.EndLiveCalls(t.Context(), core.EndShutdown, at); err != nil {
		t.Fatal(err)
	}
	got = GetCall(t, s, c.ID).Transfers[0]
	a := got.Attempts[1]
	if got.Status != core.TransferCanceled || a.Status != core.TransferCanceled || a.LegStatus != core.LegEnded ||
		a.EndedAt == nil || !a.EndedAt.Equal(at) || got.Attempts[0].Status != core.TransferFailed {
		t.Errorf("after EndLiveCalls: %+v", got)
	}
	if last := got.Steps[len(got.Steps)-1]; last.Attempt != 2 || last.Status != core.TransferCanceled {
		t.Errorf("last step %+v", last)
	}
}
