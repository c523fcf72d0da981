package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// CallFixture is a call with every field set, the signalling ones too.
func CallFixture(t testing.TB, status string) core.Call {
	t.Helper()
	ts := Now()
	return core.Call{
		ID:              NewID(t),
		Direction:       core.DirectionInbound,
		Status:          status,
		CallerPhone:     "+31612345678",
		AgentPhone:      "+31201234567",
		NumberID:        NewID(t),
		AssistantID:     NewID(t),
		StartedAt:       Ptr(ts.Add(-90 * time.Second)),
		EndedAt:         Ptr(ts.Add(-time.Second)),
		DurationSeconds: 89,
		EndReason:       core.EndCallerHangup,
		Error:           "none, really",
		CreatedAt:       ts.Add(-2 * time.Minute),
		UpdatedAt:       ts,
		SIPCallID:       "a84b4c76e66710@pc33.example.com",
		RemoteAddr:      "192.0.2.10:5060",
		TrunkID:         NewID(t),
	}
}

// BareCall is a call with only the required fields.
func BareCall(t testing.TB, status string) core.Call {
	t.Helper()
	ts := Now()
	return core.Call{ID: NewID(t), Direction: core.DirectionOutbound, Status: status, CreatedAt: ts, UpdatedAt: ts}
}

// TransferFixture is a transfer of the call with every field set.
func TransferFixture(t testing.TB, callID, status string) core.Transfer {
	t.Helper()
	ts := Now()
	return core.Transfer{
		ID:              NewID(t),
		CallID:          callID,
		Destination:     "+31207654321",
		DestinationType: "number",
		ReferTo:         "sip:+31207654321@pbx.example.com",
		Message:         "One moment, I'll put you through.",
		Status:          status,
		SIPStatus:       180,
		Reason:          "ringing the destination",
		RequestedBy:     "key:ops",
		Steps: []core.TransferStep{
			{Status: core.TransferRequested, At: ts.Add(-3 * time.Second)},
			{Status: core.TransferAccepted, SIPStatus: 202, At: ts.Add(-2 * time.Second)},
			{Status: status, SIPStatus: 180, Reason: "ringing the destination", At: ts},
		},
		CreatedAt: ts.Add(-3 * time.Second),
		UpdatedAt: ts,
		EndedAt:   Ptr(ts),
	}
}

func CreateCalls(t testing.TB, s Store, calls ...core.Call) {
	t.Helper()
	for _, c := range calls {
		if err := s.CreateCall(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
}

func SaveTransfers(t testing.TB, s Store, transfers ...core.Transfer) {
	t.Helper()
	for _, tr := range transfers {
		if err := s.SaveTransfer(t.Context(), tr); err != nil {
			t.Fatal(err)
		}
	}
}

func GetCall(t *testing.T, s Store, id string) core.Call {
	t.Helper()
	c, err := s.GetCall(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCallRoundTrip(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	full, bare := CallFixture(t, core.CallEnded), BareCall(t, core.CallDialing)
	CreateCalls(t, s, full, bare)
	MustEqual(t, GetCall(t, s, full.ID), full)
	MustEqual(t, GetCall(t, s, bare.ID), bare)

	// Every field changes; the creation time stays as stored.
	up := full
	up.Direction, up.Status = core.DirectionOutbound, core.CallInProgress
	up.CallerPhone, up.AgentPhone, up.NumberID, up.AssistantID = "+442071234567", "+31201111111", "", NewID(t)
	up.StartedAt, up.EndedAt, up.DurationSeconds, up.EndReason, up.Error = Ptr(Now()), nil, 0, "", ""
	up.SIPCallID, up.RemoteAddr, up.TrunkID = "other@host", "[2001:db8::1]:5061", ""
	up.UpdatedAt = up.UpdatedAt.Add(time.Minute)
	changed := up
	changed.CreatedAt = up.CreatedAt.Add(time.Hour)
	if err := s.UpdateCall(ctx, changed); err != nil {
		t.Fatal(err)
	}
	MustEqual(t, GetCall(t, s, full.ID), up)

	// The unset values are NULL, not empty strings or zeros.
	var nulls int
	if err := be.DB.QueryRowContext(ctx, `SELECT count(*) FROM calls WHERE id = $1 AND
		number_id IS NULL AND ended_at IS NULL AND duration_seconds IS NULL AND end_reason IS NULL AND
		error IS NULL AND trunk_id IS NULL`, full.ID).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 1 {
		t.Error("the 6 unset columns are not all NULL")
	}
	if err := be.DB.QueryRowContext(ctx, `SELECT count(*) FROM calls WHERE id = $1 AND caller_phone IS NULL
		AND agent_phone IS NULL AND number_id IS NULL AND assistant_id IS NULL AND sip_call_id IS NULL
		AND remote_addr IS NULL AND trunk_id IS NULL AND started_at IS NULL AND ended_at IS NULL
		AND duration_seconds IS NULL AND end_reason IS NULL AND error IS NULL`, bare.ID).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 1 {
		t.Error("a bare call's optional columns are not all NULL")
	}
}

func testCallTimestampsAreUTCMilliseconds(t *testing.T, be Backend) {
	s := be.open(t)
	amsterdam := time.FixedZone("CEST", 2*60*60)
	started := time.Date(2025, 6, 1, 14, 30, 15, 123456789, amsterdam)
	c := BareCall(t, core.CallInProgress)
	c.StartedAt = &started
	CreateCalls(t, s, c)
	got := GetCall(t, s, c.ID)
	if want := time.Date(2025, 6, 1, 12, 30, 15, 123000000, time.UTC); *got.StartedAt != want {
		t.Errorf("started_at %v, want %v", *got.StartedAt, want)
	}

	tr := TransferFixture(t, c.ID, core.TransferTrying)
	tr.Steps = []core.TransferStep{{Status: core.TransferRequested, At: started}}
	SaveTransfers(t, s, tr)
	got = GetCall(t, s, c.ID)
	if at := got.Transfers[0].Steps[0].At; at != time.Date(2025, 6, 1, 12, 30, 15, 123000000, time.UTC) {
		t.Errorf("step at %v", at)
	}
}

func testCallDuplicate(t *testing.T, be Backend) {
	s := be.open(t)
	c := CallFixture(t, core.CallRinging)
	CreateCalls(t, s, c)
	dup := BareCall(t, core.CallDialing)
	dup.ID = c.ID
	MustCode(t, s.CreateCall(t.Context(), dup), core.CodeConflict, "id")
	MustEqual(t, GetCall(t, s, c.ID), c)
}

func testCallNotFound(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	c := CallFixture(t, core.CallEnded)
	_, err := s.GetCall(ctx, c.ID)
	MustCode(t, err, core.CodeNotFound, "id")
	err = s.UpdateCall(ctx, c)
	MustCode(t, err, core.CodeNotFound, "id")
	if msg := core.AsError(err).Message; msg != fmt.Sprintf("call %q not found", c.ID) {
		t.Errorf("message %q", msg)
	}
	if _, total, err := s.ListCalls(ctx, core.CallFilter{}); err != nil || total != 0 {
		t.Errorf("a failed update created something: total %d, %v", total, err)
	}
}

func testUpdateCallLeavesTransfersAlone(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	c := CallFixture(t, core.CallInProgress)
	CreateCalls(t, s, c)
	tr := TransferFixture(t, c.ID, core.TransferRinging)
	SaveTransfers(t, s, tr)

	// A call handed over with no transfers, or with others, changes none.
	c.Status = core.CallTransferred
	if err := s.UpdateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	other := TransferFixture(t, c.ID, core.TransferFailed)
	c.Transfers = []core.Transfer{other}
	if err := s.UpdateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Transfers = []core.Transfer{tr}
	MustEqual(t, GetCall(t, s, c.ID), c)
}

func testSaveTransfer(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	c := CallFixture(t, core.CallInProgress)
	CreateCalls(t, s, c)

	tr := TransferFixture(t, c.ID, core.TransferRequested)
	tr.EndedAt, tr.SIPStatus, tr.Reason = nil, 0, ""
	tr.Steps = tr.Steps[:1]
	SaveTransfers(t, s, tr)
	got := GetCall(t, s, c.ID)
	MustEqual(t, got.Transfers, []core.Transfer{tr})

	// The same id again replaces it, steps included; created_at stays.
	tr.Status, tr.SIPStatus, tr.Reason = core.TransferFailed, 486, "the destination is busy"
	tr.Steps = append(tr.Steps,
		core.TransferStep{Status: core.TransferTrying, SIPStatus: 100, At: Now()},
		core.TransferStep{Status: core.TransferFailed, SIPStatus: 486, Reason: "the destination is busy", At: Now()})
	tr.UpdatedAt, tr.EndedAt = Now().Add(time.Second), Ptr(Now().Add(time.Second))
	tr.ReferTo, tr.Message, tr.RequestedBy = "sip:other@pbx.example.com", "", ""
	changed := tr
	changed.CreatedAt = tr.CreatedAt.Add(time.Hour)
	SaveTransfers(t, s, changed)
	got = GetCall(t, s, c.ID)
	MustEqual(t, got.Transfers, []core.Transfer{tr})
	var nulls int
	if err := be.DB.QueryRowContext(ctx,
		"SELECT count(*) FROM transfers WHERE id = $1 AND message IS NULL AND requested_by IS NULL", tr.ID).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 1 {
		t.Error("the 2 unset columns are not both NULL")
	}

	// No steps is stored as [] and read back as an empty list, not nil.
	none := TransferFixture(t, c.ID, core.TransferRequested)
	none.Steps = nil
	SaveTransfers(t, s, none)
	got = GetCall(t, s, c.ID)
	if len(got.Transfers) != 2 || got.Transfers[1].Steps == nil || len(got.Transfers[1].Steps) != 0 {
		t.Errorf("transfer without steps read back as %+v", got.Transfers[1].Steps)
	}
}

func testSaveTransferUnknownCall(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	tr := TransferFixture(t, NewID(t), core.TransferRequested)
	err := s.SaveTransfer(ctx, tr)
	MustCode(t, err, core.CodeNotFound, "call_id")
	if msg := core.AsError(err).Message; msg != fmt.Sprintf("call %q not found", tr.CallID) {
		t.Errorf("message %q", msg)
	}
	var n int
	if err := be.DB.QueryRowContext(ctx, "SELECT count(*) FROM transfers").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d transfers stored (%v)", n, err)
	}

	// A transfer never moves to another call.
	a, b := BareCall(t, core.CallInProgress), BareCall(t, core.CallInProgress)
	CreateCalls(t, s, a, b)
	tr.CallID = a.ID
	SaveTransfers(t, s, tr)
	moved := tr
	moved.CallID, moved.Status = b.ID, core.TransferCompleted
	MustCode(t, s.SaveTransfer(ctx, moved), core.CodeConflict, "call_id")
	moved.CallID = NewID(t)
	MustCode(t, s.SaveTransfer(ctx, moved), core.CodeConflict, "call_id")
	MustEqual(t, GetCall(t, s, a.ID).Transfers, []core.Transfer{tr})
	if got := GetCall(t, s, b.ID).Transfers; got != nil {
		t.Errorf("call b has transfers %+v", got)
	}
}

func testTransfersOldestFirst(t *testing.T, be Backend) {
	s := be.open(t)
	c := BareCall(t, core.CallInProgress)
	CreateCalls(t, s, c)
	base := Now()
	var want []core.Transfer
	for i := range 3 {
		tr := TransferFixture(t, c.ID, core.TransferFailed)
		tr.CreatedAt = base.Add(time.Duration(i) * time.Second)
		want = append(want, tr)
	}
	SaveTransfers(t, s, want[2], want[0], want[1])
	MustEqual(t, GetCall(t, s, c.ID).Transfers, want)
	list, _, err := s.ListCalls(t.Context(), core.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, list[0].Transfers, want)
}

func testListCalls(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()

	list, total, err := s.ListCalls(ctx, core.CallFilter{})
	if err != nil || total != 0 || list == nil || len(list) != 0 {
		t.Fatalf("empty store: %v, %d, %v", list, total, err)
	}

	statuses := []string{core.CallEnded, core.CallInProgress, core.CallEnded, core.CallRinging, core.CallEnded}
	var calls []core.Call // oldest first
	for _, st := range statuses {
		c := CallFixture(t, st)
		calls = append(calls, c)
		CreateCalls(t, s, c)
	}
	// Transfers for some: two for the newest, one for the middle one.
	t1 := TransferFixture(t, calls[4].ID, core.TransferFailed)
	t2 := TransferFixture(t, calls[4].ID, core.TransferCompleted)
	t2.CreatedAt = t1.CreatedAt.Add(time.Millisecond)
	t3 := TransferFixture(t, calls[2].ID, core.TransferCanceled)
	SaveTransfers(t, s, t1, t2, t3)
	calls[4].Transfers = []core.Transfer{t1, t2}
	calls[2].Transfers = []core.Transfer{t3}

	newest := func(idx ...int) []core.Call {
		var out []core.Call
		for _, i := range idx {
			out = append(out, calls[i])
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		f     core.CallFilter
		total int
		want  []core.Call
	}{
		{"all", core.CallFilter{}, 5, newest(4, 3, 2, 1, 0)},
		{"first page", core.CallFilter{Page: core.Page{Limit: 2}}, 5, newest(4, 3)},
		{"second page", core.CallFilter{Page: core.Page{Limit: 2, Offset: 2}}, 5, newest(2, 1)},
		{"last page", core.CallFilter{Page: core.Page{Limit: 2, Offset: 4}}, 5, newest(0)},
		{"past the end", core.CallFilter{Page: core.Page{Offset: 10}}, 5, []core.Call{}},
		{"ended", core.CallFilter{Status: core.CallEnded}, 3, newest(4, 2, 0)},
		{"ended, paged", core.CallFilter{Status: core.CallEnded, Page: core.Page{Limit: 1, Offset: 1}}, 3, newest(2)},
		{"ringing", core.CallFilter{Status: core.CallRinging}, 1, newest(3)},
		{"none failed", core.CallFilter{Status: core.CallFailed}, 0, []core.Call{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, total, err := s.ListCalls(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if total != tc.total {
				t.Errorf("total %d, want %d", total, tc.total)
			}
			MustEqual(t, list, tc.want)
		})
	}

	_, _, err = s.ListCalls(ctx, core.CallFilter{Page: core.Page{Limit: core.MaxPageLimit + 1}})
	MustCode(t, err, core.CodeInvalidRequest, "limit")
	_, _, err = s.ListCalls(ctx, core.CallFilter{Page: core.Page{Offset: -1}})
	MustCode(t, err, core.CodeInvalidRequest, "offset")
}

func testListCallsManyTransfers(t *testing.T, be Backend) {
	// A full page, every call with transfers: each gets exactly its own.
	s := be.open(t)
	const n = core.MaxPageLimit
	want := make(map[string][]core.Transfer, n)
	for i := range n {
		c := BareCall(t, core.CallEnded)
		CreateCalls(t, s, c)
		for j := range i % 4 {
			tr := TransferFixture(t, c.ID, core.TransferFailed)
			tr.CreatedAt = tr.CreatedAt.Add(time.Duration(j) * time.Millisecond)
			SaveTransfers(t, s, tr)
			want[c.ID] = append(want[c.ID], tr)
		}
	}
	list, total, err := s.ListCalls(t.Context(), core.CallFilter{Page: core.Page{Limit: n}})
	if err != nil {
		t.Fatal(err)
	}
	if total != n || len(list) != n {
		t.Fatalf("total %d, %d listed", total, len(list))
	}
	for _, c := range list {
		MustEqual(t, c.Transfers, want[c.ID])
	}
}

func testEndLiveCalls(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	all := []string{core.CallRinging, core.CallInProgress, core.CallTransferred, core.CallEnded,
		core.CallFailed, core.CallRejected, core.CallDialing}
	before := map[string]core.Call{}
	for _, st := range all {
		c := BareCall(t, st)
		if st == core.CallInProgress {
			c.StartedAt = Ptr(at.Add(-90*time.Second - 600*time.Millisecond)) // 90.6 s rounds to 91
		}
		if st == core.CallEnded {
			c.StartedAt, c.EndedAt, c.DurationSeconds, c.EndReason = Ptr(at.Add(-time.Hour)), Ptr(at.Add(-time.Minute)), 3540, core.EndCallerHangup
		}
		CreateCalls(t, s, c)
		// An open transfer and a finished one for every call.
		open := TransferFixture(t, c.ID, core.TransferRinging)
		open.EndedAt = nil
		done := TransferFixture(t, c.ID, core.TransferFailed)
		done.CreatedAt = open.CreatedAt.Add(time.Millisecond)
		SaveTransfers(t, s, open, done)
		c.Transfers = []core.Transfer{open, done}
		before[c.ID] = c
	}

	n, err := s.EndLiveCalls(ctx, core.EndShutdown, at)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("ended %d calls, want 3", n)
	}
	for id, c := range before {
		got := GetCall(t, s, id)
		if !c.Live() {
			MustEqual(t, got, c)
			continue
		}
		want := c
		want.Status, want.EndReason, want.EndedAt, want.UpdatedAt = core.CallEnded, core.EndShutdown, &at, at
		if c.StartedAt != nil {
			want.DurationSeconds = 91
		}
		open := c.Transfers[0]
		open.Status, open.Reason, open.EndedAt, open.UpdatedAt = core.TransferCanceled, "the server stopped during the transfer", &at, at
		open.Steps = append(append([]core.TransferStep(nil), open.Steps...),
			core.TransferStep{Status: core.TransferCanceled, Reason: "the server stopped during the transfer", At: at})
		want.Transfers = []core.Transfer{open, c.Transfers[1]}
		MustEqual(t, got, want)
	}

	// Nothing is live any more.
	n, err = s.EndLiveCalls(ctx, core.EndShutdown, at.Add(time.Minute))
	if err != nil || n != 0 {
		t.Errorf("second run ended %d (%v), want 0", n, err)
	}
	for _, st := range []string{core.CallRinging, core.CallInProgress, core.CallDialing} {
		if _, total, err := s.ListCalls(ctx, core.CallFilter{Status: st}); err != nil || total != 0 {
			t.Errorf("%d calls still %s (%v)", total, st, err)
		}
	}
}

func testEndLiveCallsOnEmptyStore(t *testing.T, be Backend) {
	s := be.open(t)
	if n, err := s.EndLiveCalls(t.Context(), core.EndShutdown, Now()); err != nil || n != 0 {
		t.Errorf("ended %d (%v)", n, err)
	}
}

func testCallsSurviveReopen(t *testing.T, be Backend) {
	key := NewKey(t)
	s, err := be.Open(t, key)
	if err != nil {
		t.Fatal(err)
	}
	c := CallFixture(t, core.CallInProgress)
	CreateCalls(t, s, c)
	tr := TransferFixture(t, c.ID, core.TransferTrying)
	SaveTransfers(t, s, tr)
	c.Transfers = []core.Transfer{tr}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = be.openWith(t, key)
	MustEqual(t, GetCall(t, s, c.ID), c)
}

func testDeletingACallDeletesItsTransfers(t *testing.T, be Backend) {
	// No method deletes calls yet; the schema cascades for when one does.
	s := be.open(t)
	ctx := t.Context()
	c := BareCall(t, core.CallEnded)
	CreateCalls(t, s, c)
	SaveTransfers(t, s, TransferFixture(t, c.ID, core.TransferFailed))
	if _, err := be.DB.ExecContext(ctx, "DELETE FROM calls WHERE id = $1", c.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := be.DB.QueryRowContext(ctx, "SELECT count(*) FROM transfers").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d transfers left (%v)", n, err)
	}
}

func testConcurrentCalls(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	const workers, rounds = 8, 10
	errs := make(chan error, workers*2+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs <- callWriter(ctx, s, w, rounds) })
		wg.Go(func() { errs <- callReader(ctx, s, rounds) })
	}
	wg.Go(func() {
		for range rounds {
			if _, err := s.EndLiveCalls(ctx, core.EndShutdown, Now()); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if _, err := s.EndLiveCalls(ctx, core.EndShutdown, Now()); err != nil {
		t.Fatal(err)
	}
	_, total, err := s.ListCalls(ctx, core.CallFilter{})
	if err != nil || total != workers*rounds {
		t.Errorf("%d calls (%v), want %d", total, err, workers*rounds)
	}
	if _, live, err := s.ListCalls(ctx, core.CallFilter{Status: core.CallInProgress}); err != nil || live != 0 {
		t.Errorf("%d calls still live (%v)", live, err)
	}
}

// callWriter runs calls as the call manager would: create, answer,
// transfer step by step, read back.
func callWriter(ctx context.Context, s Store, w, rounds int) error {
	for i := range rounds {
		id, err := core.NewID()
		if err != nil {
			return err
		}
		ts := Now()
		c := core.Call{ID: id, Direction: core.DirectionInbound, Status: core.CallRinging,
			CallerPhone: fmt.Sprintf("+3161%03d%04d", w, i), CreatedAt: ts, UpdatedAt: ts}
		if err := s.CreateCall(ctx, c); err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
		c.Status, c.StartedAt = core.CallInProgress, &ts
		if err := s.UpdateCall(ctx, c); err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
		tid, err := core.NewID()
		if err != nil {
			return err
		}
		tr := core.Transfer{ID: tid, CallID: id, Destination: "+31207654321", DestinationType: "number",
			Status: core.TransferRequested, Steps: []core.TransferStep{{Status: core.TransferRequested, At: ts}},
			CreatedAt: ts, UpdatedAt: ts}
		for _, st := range []string{core.TransferRequested, core.TransferTrying, core.TransferCompleted} {
			tr.Status = st
			tr.Steps = append(tr.Steps, core.TransferStep{Status: st, At: Now()})
			if err := s.SaveTransfer(ctx, tr); err != nil {
				return fmt.Errorf("worker %d: %w", w, err)
			}
		}
		got, err := s.GetCall(ctx, id)
		if err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
		if got.CallerPhone != c.CallerPhone || len(got.Transfers) != 1 || len(got.Transfers[0].Steps) < len(tr.Steps) {
			return fmt.Errorf("worker %d: read back %+v", w, got)
		}
	}
	return nil
}

// callReader lists and looks up while the writers write.
func callReader(ctx context.Context, s Store, rounds int) error {
	for range rounds * 2 {
		list, total, err := s.ListCalls(ctx, core.CallFilter{Page: core.Page{Limit: 10}})
		if err != nil {
			return err
		}
		if len(list) > total {
			return fmt.Errorf("%d listed of %d", len(list), total)
		}
		for _, c := range list {
			if _, err := s.GetCall(ctx, c.ID); err != nil {
				return err
			}
		}
		if _, _, err := s.ListCalls(ctx, core.CallFilter{Status: core.CallInProgress}); err != nil {
			return err
		}
	}
	return nil
}
