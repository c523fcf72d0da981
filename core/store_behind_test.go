package core_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// newDownFixture is a call answered, with its webhooks going to the
// outbox, on a store that can be taken down; a write waits 1 s. (At
// 100 ms, writes on a machine loaded by the rest of the test command ran
// out of it after the store was back.)
func newDownFixture(t *testing.T) (*fixture, *failingStore) {
	t.Helper()
	return newDownFixtureWith(t, core.CallsConfig{})
}

// newDownFixtureWith is newDownFixture with cfg, its webhook URL set.
func newDownFixtureWith(t *testing.T, cfg core.CallsConfig) (*fixture, *failingStore) {
	t.Helper()
	var store *failingStore
	cfg.DefaultWebhookURL = testHookURL
	f := newFixtureWrapped(t, cfg, core.NewBus(),
		func(st *sqlite.Store) core.CallStore {
			store = &failingStore{Store: st}
			return store
		})
	core.SetStoreTimeout(f.calls, time.Second)
	return f, store
}

// testHookURL receives the kept-state tests' webhooks: nothing listens
// on the discard port, and the deliveries are read in the outbox.
const testHookURL = "http://127.0.0.1:9/hook"

// event is a stored webhook delivery as its receiver reads it.
type event struct {
	kind, status string // the message's type; the call's status or the transfer's
}

// storedEvents lists the call's webhook deliveries in the outbox in the
// order they are sent: oldest first (by creation, then by id, which is
// time-ordered).
func storedEvents(t *testing.T, f *fixture, callID string) []event {
	t.Helper()
	list, _, err := f.store.ListDeliveries(t.Context(), core.DeliveryFilter{CallID: callID, Page: core.Page{Limit: core.MaxPageLimit}})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]event, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- { // the list is newest first
		var body struct {
			Message struct {
				Type     string
				Call     struct{ Status string }
				Transfer struct{ Status string }
			}
		}
		d, err := f.store.GetDelivery(t.Context(), list[i].ID) // a list has no bodies
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatal(err)
		}
		e := event{kind: body.Message.Type, status: body.Message.Call.Status}
		if e.kind == core.WebhookTransferUpdate {
			e.status = body.Message.Transfer.Status
		}
		out = append(out, e)
	}
	return out
}

func count(events []event, kind, status string) int {
	n := 0
	for _, e := range events {
		if e.kind == kind && (status == "" || e.status == status) {
			n++
		}
	}
	return n
}

// TestCallEndedWhileTheStoreIsDownIsStoredOnceItIsBack: a call that ends
// while the store is down for longer than its write waits gets its end
// stored, with its status-update and end-of-call-report, once, when the
// store is back. They were logged and lost: no later write of the call
// would have carried them.
func TestCallEndedWhileTheStoreIsDownIsStoredOnceItIsBack(t *testing.T) {
	f, store := newDownFixture(t)
	store.down.Store(true)
	f.calls.CallEnded(t.Context(), f.callID, core.EndCallerHangup)
	if store.failed.Load() == 0 {
		t.Fatal("the call's end was not written while the store was down")
	}
	c, err := f.store.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Live() {
		t.Fatalf("stored while down: %s", c.Status)
	}
	if n := f.calls.BehindStore(); n != 1 {
		t.Fatalf("%d calls behind the store, want 1", n)
	}
	// get_call shows the end kept, not the store's older record.
	if got, err := f.calls.GetCall(t.Context(), f.callID); err != nil || got.Status != core.CallEnded {
		t.Fatalf("get_call while behind: %s, %v", got.Status, err)
	}

	store.down.Store(false)
	waitCaughtUp(t, f)
	c, err = f.store.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != core.CallEnded || c.EndReason != core.EndCallerHangup {
		t.Fatalf("stored: %s (%s), want ended by the caller", c.Status, c.EndReason)
	}
	events := storedEvents(t, f, f.callID)
	if n := count(events, core.WebhookEndOfCallReport, ""); n != 1 {
		t.Fatalf("%d end-of-call-reports stored, want 1: %+v", n, events)
	}
	if n := count(events, core.WebhookStatusUpdate, core.CallEnded); n != 1 {
		t.Fatalf("%d status-updates of the end stored, want 1: %+v", n, events)
	}
	if last := events[len(events)-1]; last.kind != core.WebhookEndOfCallReport {
		t.Fatalf("the last event stored is %s, want the end-of-call-report: %+v", last.kind, events)
	}
}

// TestStepsKeptWhileTheStoreIsDownGoFirst: a transfer step the store did
// not take is written, in its place, by the transfer's next write once
// the store is back, before that write's own step.
func TestStepsKeptWhileTheStoreIsDownGoFirst(t *testing.T) {
	f, store := newDownFixture(t)
	ringWhileDown(f, store, func() {})
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	if err != nil || tr.Status != core.TransferCompleted {
		t.Fatalf("transfer: %v, %+v", err, tr)
	}
	if store.failed.Load() == 0 {
		t.Fatal("no step was written while the store was down")
	}
	// Caught up by the transfer's own final write, not by the background
	// retry, which waits a second first.
	if n := f.calls.BehindStore(); n != 0 {
		t.Fatalf("%d calls behind the store after the final step, want 0", n)
	}
	c, err := f.store.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != core.CallTransferred || len(c.Transfers) != 1 {
		t.Fatalf("stored: call %s with %d transfers", c.Status, len(c.Transfers))
	}
	var got []string
	for _, st := range c.Transfers[0].Steps {
		got = append(got, st.Status)
	}
	if !containsInOrder(got, core.TransferRinging, core.TransferCompleted) {
		t.Fatalf("stored steps %v, want ringing before completed", got)
	}
	events := storedEvents(t, f, f.callID)
	ringing, completed := -1, -1
	for i, e := range events {
		if e.kind != core.WebhookTransferUpdate {
			continue
		}
		switch e.status {
		case core.TransferRinging:
			if ringing >= 0 {
				t.Fatalf("ringing stored twice: %+v", events)
			}
			ringing = i
		case core.TransferCompleted:
			if completed >= 0 {
				t.Fatalf("completed stored twice: %+v", events)
			}
			completed = i
		}
	}
	if ringing < 0 || completed < 0 || ringing > completed {
		t.Fatalf("transfer-updates stored: %+v; want ringing once, before completed once", events)
	}
	if n := count(events, core.WebhookStatusUpdate, core.CallTransferred); n != 1 {
		t.Fatalf("%d status-updates of the transfer, want 1: %+v", n, events)
	}
}

// TestTransferRefusedWhileItsCallIsBehind: a new transfer of a call whose
// state the store has not taken (here a refused transfer's record) is
// refused overloaded, as one whose own first write was not taken, and
// goes ahead once the store is back, the refusal stored before it.
func TestTransferRefusedWhileItsCallIsBehind(t *testing.T) {
	f, store := newDownFixture(t)
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	store.down.Store(true)
	_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345670"}, nil)
	if !core.HasCode(err, core.CodeDestinationNotAllowed) {
		t.Fatalf("transfer to a number not listed: %v, want destination_not_allowed", err)
	}
	if n := f.calls.BehindStore(); n != 1 {
		t.Fatalf("%d calls behind the store, want 1", n)
	}
	_, err = f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	if !core.HasCode(err, core.CodeOverloaded) {
		t.Fatalf("transfer while behind: %v, want overloaded", err)
	}
	if n := len(f.sip.referTos); n != 0 {
		t.Fatalf("%d REFERs sent for transfers refused", n)
	}
	store.down.Store(false)
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	if err != nil || tr.Status != core.TransferCompleted {
		t.Fatalf("transfer once the store is back: %v, %+v", err, tr)
	}
	c, err := f.store.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Transfers) != 2 || c.Transfers[0].Status != core.TransferFailed || c.Transfers[1].Status != core.TransferCompleted {
		t.Fatalf("stored transfers: %+v, want the refusal and the transfer", c.Transfers)
	}
	events := storedEvents(t, f, f.callID)
	if n := count(events, core.WebhookTransferUpdate, core.TransferFailed); n != 1 {
		t.Fatalf("%d refusals announced, want 1: %+v", n, events)
	}
}

// TestConversationWhileTheStoreIsDownIsKept: what the caller says and
// presses while the store is down is stored once it is back, with its
// webhooks, before the call's end; they were logged and lost.
func TestConversationWhileTheStoreIsDownIsKept(t *testing.T) {
	f, store := newDownFixture(t)
	converseWhileDown(t, f, store)
	if n := f.calls.BehindStore(); n != 1 {
		t.Fatalf("%d calls behind the store, want 1", n)
	}
	store.down.Store(false)
	waitCaughtUp(t, f)
	checkConversationStored(t, f)
}

// converseWhileDown takes the store down, and the caller says a line,
// presses a key and hangs up.
func converseWhileDown(t *testing.T, f *fixture, store *failingStore) {
	t.Helper()
	stt := &cannedSTT{texts: make(chan string, 10), language: make(chan string, 10)}
	f.calls.SetConversation(store, stt)
	store.down.Store(true)
	f.speak(t, stt, "I want to talk to a human")
	f.calls.DigitPressed(t.Context(), f.callID, "5", "rfc4733")
	f.calls.CallEnded(t.Context(), f.callID, core.EndCallerHangup)
}

// checkConversationStored checks that the line and the key of the
// kept-state tests' conversation are stored, and their webhooks once
// each, in order, before the report.
func checkConversationStored(t *testing.T, f *fixture) []event {
	t.Helper()
	lines, total, err := f.store.ListTranscript(t.Context(), f.callID, core.Page{Limit: 10})
	if err != nil || total != 1 || lines[0].Content != "I want to talk to a human" {
		t.Fatalf("transcript stored: %v, %d, %+v", err, total, lines)
	}
	events := storedEvents(t, f, f.callID)
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.kind)
	}
	if !containsInOrder(kinds, core.WebhookConversationUpdate, core.WebhookDTMF, core.WebhookEndOfCallReport) {
		t.Fatalf("events stored: %v, want the line, the key, then the report", kinds)
	}
	for _, kind := range []string{core.WebhookConversationUpdate, core.WebhookDTMF, core.WebhookEndOfCallReport} {
		if n := count(events, kind, ""); n != 1 {
			t.Errorf("%d %s stored, want 1", n, kind)
		}
	}
	return events
}

// TestKeptRowsTheStoreTookAlreadyAreNotWrittenAgain: a catch-up whose
// answer was lost (the store committed it) leaves the kept rows stored;
// a later catch-up writes the rows kept after them, instead of failing
// on the stored ones' ids and giving up the call's state, even when
// reading the stored ones back fails at first.
func TestKeptRowsTheStoreTookAlreadyAreNotWrittenAgain(t *testing.T) {
	f, store := newDownFixture(t)
	// The catch-up before the final step is stored, and its answer lost;
	// the first read of what it stored fails too (its deadline ran out):
	// that is tried again, not taken for a refusal.
	ringWhileDown(f, store, func() {
		store.lostAnswers.Store(1)
		store.readFailures.Store(1)
	})
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	if err != nil || tr.Status != core.TransferCompleted {
		t.Fatalf("transfer: %v, %+v", err, tr)
	}
	waitCaughtUp(t, f)
	events := storedEvents(t, f, f.callID)
	for _, status := range []string{core.TransferRinging, core.TransferCompleted} {
		if n := count(events, core.WebhookTransferUpdate, status); n != 1 {
			t.Errorf("%d transfer-updates %s stored, want 1: %+v", n, status, events)
		}
	}
	if n := count(events, core.WebhookStatusUpdate, core.CallTransferred); n != 1 {
		t.Errorf("%d status-updates of the transfer stored, want 1: %+v", n, events)
	}
	if c, err := f.store.GetCall(t.Context(), f.callID); err != nil || c.Status != core.CallTransferred {
		t.Fatalf("stored: %+v, %v", c.Status, err)
	}
	if n := store.lostAnswers.Load(); n >= 0 {
		t.Fatalf("no answer was lost (%d left)", n)
	}
}

// TestWritesNotRetriedWhileACallIsBehind: once one call is behind the
// store, another call's write that fails is kept at once, not tried
// again for its whole deadline (holding that call's lock), and both are
// stored once the store is back.
func TestWritesNotRetriedWhileACallIsBehind(t *testing.T) {
	f, store := newDownFixture(t)
	second := f.calls.OfferCall(t.Context(), core.InboundInvite{SIPCallID: "c2", Called: "31850835037", Caller: "+31611122244", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	f.calls.CallAnswered(t.Context(), second.CallID)
	store.down.Store(true)
	f.calls.CallEnded(t.Context(), f.callID, core.EndCallerHangup)
	if n := store.failed.Load(); n < 2 {
		t.Fatalf("the first call's end was tried %d times within its deadline, want more", n)
	}
	before := store.failed.Load()
	f.calls.CallEnded(t.Context(), second.CallID, core.EndCallerHangup)
	if n := store.failed.Load() - before; n != 1 {
		t.Fatalf("the second call's end was tried %d times while the first was behind, want 1", n)
	}
	if n := f.calls.BehindStore(); n != 2 {
		t.Fatalf("%d calls behind the store, want 2", n)
	}
	store.down.Store(false)
	waitCaughtUp(t, f)
	for _, id := range []string{f.callID, second.CallID} {
		if n := count(storedEvents(t, f, id), core.WebhookEndOfCallReport, ""); n != 1 {
			t.Errorf("call %s: %d end-of-call-reports stored, want 1", id, n)
		}
	}
}

// ringWhileDown answers the next REFER: the destination rings while the
// store is down, and answers once it is back and back is done.
func ringWhileDown(f *fixture, store *failingStore, back func()) {
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go func() {
			store.down.Store(true)
			f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 180})
			store.down.Store(false)
			back()
			f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		}()
		return 202, nil
	}
}

// waitCaughtUp waits, for at most 10 s, until no call of f is behind
// the store.
func waitCaughtUp(t *testing.T, f *fixture) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.calls.BehindStore() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a call was still behind the store 10 s after it was back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// containsInOrder reports whether want appear in got in that order.
func containsInOrder(got []string, want ...string) bool {
	for _, s := range got {
		if len(want) > 0 && s == want[0] {
			want = want[1:]
		}
	}
	return len(want) == 0
}
