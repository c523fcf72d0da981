package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/voicedock/voicedock/core"
)

// callFixture is a call with every field set, the signalling ones too.
func callFixture(t testing.TB, status string) core.Call {
	t.Helper()
	ts := now()
	return core.Call{
		ID:              newID(t),
		Direction:       core.DirectionInbound,
		Status:          status,
		CallerPhone:     "+31612345678",
		AgentPhone:      "+31201234567",
		NumberID:        newID(t),
		AssistantID:     newID(t),
		StartedAt:       ptr(ts.Add(-90 * time.Second)),
		EndedAt:         ptr(ts.Add(-time.Second)),
		DurationSeconds: 89,
		EndReason:       core.EndCallerHangup,
		Error:           "none, really",
		CreatedAt:       ts.Add(-2 * time.Minute),
		UpdatedAt:       ts,
		SIPCallID:       "a84b4c76e66710@pc33.example.com",
		RemoteAddr:      "192.0.2.10:5060",
		TrunkID:         newID(t),
	}
}

// bareCall is a call with only the required fields.
func bareCall(t testing.TB, status string) core.Call {
	t.Helper()
	ts := now()
	return core.Call{ID: newID(t), Direction: core.DirectionOutbound, Status: status, CreatedAt: ts, UpdatedAt: ts}
}

// transferFixture is a transfer of the call with every field set.
func transferFixture(t testing.TB, callID, status string) core.Transfer {
	t.Helper()
	ts := now()
	return core.Transfer{
		ID:              newID(t),
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
		EndedAt:   ptr(ts),
	}
}

func createCalls(t testing.TB, s *Store, calls ...core.Call) {
	t.Helper()
	for _, c := range calls {
		if err := s.CreateCall(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
}

func saveTransfers(t testing.TB, s *Store, transfers ...core.Transfer) {
	t.Helper()
	for _, tr := range transfers {
		if err := s.SaveTransfer(t.Context(), tr); err != nil {
			t.Fatal(err)
		}
	}
}

func getCall(t *testing.T, s *Store, id string) core.Call {
	t.Helper()
	c, err := s.GetCall(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCallRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	full, bare := callFixture(t, core.CallEnded), bareCall(t, core.CallDialing)
	createCalls(t, s, full, bare)
	mustEqual(t, getCall(t, s, full.ID), full)
	mustEqual(t, getCall(t, s, bare.ID), bare)

	// Every field changes; the creation time stays as stored.
	up := full
	up.Direction, up.Status = core.DirectionOutbound, core.CallInProgress
	up.CallerPhone, up.AgentPhone, up.NumberID, up.AssistantID = "+442071234567", "+31201111111", "", newID(t)
	up.StartedAt, up.EndedAt, up.DurationSeconds, up.EndReason, up.Error = ptr(now()), nil, 0, "", ""
	up.SIPCallID, up.RemoteAddr, up.TrunkID = "other@host", "[2001:db8::1]:5061", ""
	up.UpdatedAt = up.UpdatedAt.Add(time.Minute)
	changed := up
	changed.CreatedAt = up.CreatedAt.Add(time.Hour)
	if err := s.UpdateCall(ctx, changed); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, getCall(t, s, full.ID), up)

	// The unset values are NULL, not empty strings or zeros.
	var nulls int
	if err := s.read.QueryRowContext(ctx, `SELECT
		(number_id IS NULL) + (ended_at IS NULL) + (duration_seconds IS NULL) + (end_reason IS NULL) +
		(error IS NULL) + (trunk_id IS NULL) FROM calls WHERE id = ?`, full.ID).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 6 {
		t.Errorf("%d of the 6 unset columns are NULL", nulls)
	}
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM calls WHERE id = ? AND caller_phone IS NULL
		AND agent_phone IS NULL AND number_id IS NULL AND assistant_id IS NULL AND sip_call_id IS NULL
		AND remote_addr IS NULL AND trunk_id IS NULL AND started_at IS NULL AND ended_at IS NULL
		AND duration_seconds IS NULL AND end_reason IS NULL AND error IS NULL`, bare.ID).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 1 {
		t.Error("a bare call's optional columns are not all NULL")
	}
}

func TestCallTimestampsAreUTCMilliseconds(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	amsterdam := time.FixedZone("CEST", 2*60*60)
	started := time.Date(2025, 6, 1, 14, 30, 15, 123456789, amsterdam)
	c := bareCall(t, core.CallInProgress)
	c.StartedAt = &started
	createCalls(t, s, c)
	var raw string
	if err := s.read.QueryRowContext(ctx, "SELECT started_at FROM calls WHERE id = ?", c.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != "2025-06-01T12:30:15.123Z" {
		t.Errorf("stored started_at %q", raw)
	}
	got := getCall(t, s, c.ID)
	if want := time.Date(2025, 6, 1, 12, 30, 15, 123000000, time.UTC); *got.StartedAt != want {
		t.Errorf("started_at %v, want %v", *got.StartedAt, want)
	}

	tr := transferFixture(t, c.ID, core.TransferTrying)
	tr.Steps = []core.TransferStep{{Status: core.TransferRequested, At: started}}
	saveTransfers(t, s, tr)
	if err := s.read.QueryRowContext(ctx, "SELECT steps FROM transfers WHERE id = ?", tr.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != `[{"status":"requested","at":"2025-06-01T12:30:15.123Z"}]` {
		t.Errorf("stored steps %s", raw)
	}
}

func TestCallDuplicate(t *testing.T) {
	s, _ := openTemp(t)
	c := callFixture(t, core.CallRinging)
	createCalls(t, s, c)
	dup := bareCall(t, core.CallDialing)
	dup.ID = c.ID
	mustCode(t, s.CreateCall(t.Context(), dup), core.CodeConflict, "id")
	mustEqual(t, getCall(t, s, c.ID), c)
}

func TestCallNotFound(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	c := callFixture(t, core.CallEnded)
	_, err := s.GetCall(ctx, c.ID)
	mustCode(t, err, core.CodeNotFound, "id")
	err = s.UpdateCall(ctx, c)
	mustCode(t, err, core.CodeNotFound, "id")
	if msg := core.AsError(err).Message; msg != fmt.Sprintf("call %q not found", c.ID) {
		t.Errorf("message %q", msg)
	}
	if _, total, err := s.ListCalls(ctx, core.CallFilter{}); err != nil || total != 0 {
		t.Errorf("a failed update created something: total %d, %v", total, err)
	}
}

func TestUpdateCallLeavesTransfersAlone(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	c := callFixture(t, core.CallInProgress)
	createCalls(t, s, c)
	tr := transferFixture(t, c.ID, core.TransferRinging)
	saveTransfers(t, s, tr)

	// A call handed over with no transfers, or with others, changes none.
	c.Status = core.CallTransferred
	if err := s.UpdateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	other := transferFixture(t, c.ID, core.TransferFailed)
	c.Transfers = []core.Transfer{other}
	if err := s.UpdateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Transfers = []core.Transfer{tr}
	mustEqual(t, getCall(t, s, c.ID), c)
}

func TestSaveTransfer(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	c := callFixture(t, core.CallInProgress)
	createCalls(t, s, c)

	tr := transferFixture(t, c.ID, core.TransferRequested)
	tr.EndedAt, tr.SIPStatus, tr.Reason = nil, 0, ""
	tr.Steps = tr.Steps[:1]
	saveTransfers(t, s, tr)
	got := getCall(t, s, c.ID)
	mustEqual(t, got.Transfers, []core.Transfer{tr})

	// The same id again replaces it, steps included; created_at stays.
	tr.Status, tr.SIPStatus, tr.Reason = core.TransferFailed, 486, "the destination is busy"
	tr.Steps = append(tr.Steps,
		core.TransferStep{Status: core.TransferTrying, SIPStatus: 100, At: now()},
		core.TransferStep{Status: core.TransferFailed, SIPStatus: 486, Reason: "the destination is busy", At: now()})
	tr.UpdatedAt, tr.EndedAt = now().Add(time.Second), ptr(now().Add(time.Second))
	tr.ReferTo, tr.Message, tr.RequestedBy = "sip:other@pbx.example.com", "", ""
	changed := tr
	changed.CreatedAt = tr.CreatedAt.Add(time.Hour)
	saveTransfers(t, s, changed)
	got = getCall(t, s, c.ID)
	mustEqual(t, got.Transfers, []core.Transfer{tr})
	var nulls int
	if err := s.read.QueryRowContext(ctx,
		"SELECT (message IS NULL) + (requested_by IS NULL) FROM transfers WHERE id = ?", tr.ID).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 2 {
		t.Errorf("%d of the 2 unset columns are NULL", nulls)
	}

	// No steps is stored as [] and read back as an empty list, not nil.
	none := transferFixture(t, c.ID, core.TransferRequested)
	none.Steps = nil
	saveTransfers(t, s, none)
	got = getCall(t, s, c.ID)
	if len(got.Transfers) != 2 || got.Transfers[1].Steps == nil || len(got.Transfers[1].Steps) != 0 {
		t.Errorf("transfer without steps read back as %+v", got.Transfers[1].Steps)
	}
}

func TestSaveTransferUnknownCall(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	tr := transferFixture(t, newID(t), core.TransferRequested)
	err := s.SaveTransfer(ctx, tr)
	mustCode(t, err, core.CodeNotFound, "call_id")
	if msg := core.AsError(err).Message; msg != fmt.Sprintf("call %q not found", tr.CallID) {
		t.Errorf("message %q", msg)
	}
	var n int
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM transfers").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d transfers stored (%v)", n, err)
	}

	// A transfer never moves to another call.
	a, b := bareCall(t, core.CallInProgress), bareCall(t, core.CallInProgress)
	createCalls(t, s, a, b)
	tr.CallID = a.ID
	saveTransfers(t, s, tr)
	moved := tr
	moved.CallID, moved.Status = b.ID, core.TransferCompleted
	mustCode(t, s.SaveTransfer(ctx, moved), core.CodeConflict, "call_id")
	moved.CallID = newID(t)
	mustCode(t, s.SaveTransfer(ctx, moved), core.CodeConflict, "call_id")
	mustEqual(t, getCall(t, s, a.ID).Transfers, []core.Transfer{tr})
	if got := getCall(t, s, b.ID).Transfers; got != nil {
		t.Errorf("call b has transfers %+v", got)
	}
}

func TestTransfersOldestFirst(t *testing.T) {
	s, _ := openTemp(t)
	c := bareCall(t, core.CallInProgress)
	createCalls(t, s, c)
	base := now()
	var want []core.Transfer
	for i := range 3 {
		tr := transferFixture(t, c.ID, core.TransferFailed)
		tr.CreatedAt = base.Add(time.Duration(i) * time.Second)
		want = append(want, tr)
	}
	saveTransfers(t, s, want[2], want[0], want[1])
	mustEqual(t, getCall(t, s, c.ID).Transfers, want)
	list, _, err := s.ListCalls(t.Context(), core.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, list[0].Transfers, want)
}

func TestListCalls(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()

	list, total, err := s.ListCalls(ctx, core.CallFilter{})
	if err != nil || total != 0 || list == nil || len(list) != 0 {
		t.Fatalf("empty store: %v, %d, %v", list, total, err)
	}

	statuses := []string{core.CallEnded, core.CallInProgress, core.CallEnded, core.CallRinging, core.CallEnded}
	var calls []core.Call // oldest first
	for _, st := range statuses {
		c := callFixture(t, st)
		calls = append(calls, c)
		createCalls(t, s, c)
	}
	// Transfers for some: two for the newest, one for the middle one.
	t1 := transferFixture(t, calls[4].ID, core.TransferFailed)
	t2 := transferFixture(t, calls[4].ID, core.TransferCompleted)
	t2.CreatedAt = t1.CreatedAt.Add(time.Millisecond)
	t3 := transferFixture(t, calls[2].ID, core.TransferCanceled)
	saveTransfers(t, s, t1, t2, t3)
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
			mustEqual(t, list, tc.want)
		})
	}

	_, _, err = s.ListCalls(ctx, core.CallFilter{Page: core.Page{Limit: core.MaxPageLimit + 1}})
	mustCode(t, err, core.CodeInvalidRequest, "limit")
	_, _, err = s.ListCalls(ctx, core.CallFilter{Page: core.Page{Offset: -1}})
	mustCode(t, err, core.CodeInvalidRequest, "offset")
}

func TestListCallsManyTransfers(t *testing.T) {
	// A full page, every call with transfers: each gets exactly its own.
	s, _ := openTemp(t)
	const n = core.MaxPageLimit
	want := make(map[string][]core.Transfer, n)
	for i := range n {
		c := bareCall(t, core.CallEnded)
		createCalls(t, s, c)
		for j := range i % 4 {
			tr := transferFixture(t, c.ID, core.TransferFailed)
			tr.CreatedAt = tr.CreatedAt.Add(time.Duration(j) * time.Millisecond)
			saveTransfers(t, s, tr)
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
		mustEqual(t, c.Transfers, want[c.ID])
	}
}

func TestEndLiveCalls(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	all := []string{core.CallRinging, core.CallInProgress, core.CallTransferred, core.CallEnded,
		core.CallFailed, core.CallRejected, core.CallDialing}
	before := map[string]core.Call{}
	for _, st := range all {
		c := bareCall(t, st)
		if st == core.CallInProgress {
			c.StartedAt = ptr(at.Add(-90*time.Second - 600*time.Millisecond)) // 90.6 s rounds to 91
		}
		if st == core.CallEnded {
			c.StartedAt, c.EndedAt, c.DurationSeconds, c.EndReason = ptr(at.Add(-time.Hour)), ptr(at.Add(-time.Minute)), 3540, core.EndCallerHangup
		}
		createCalls(t, s, c)
		// An open transfer and a finished one for every call.
		open := transferFixture(t, c.ID, core.TransferRinging)
		open.EndedAt = nil
		done := transferFixture(t, c.ID, core.TransferFailed)
		done.CreatedAt = open.CreatedAt.Add(time.Millisecond)
		saveTransfers(t, s, open, done)
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
		got := getCall(t, s, id)
		if !c.Live() {
			mustEqual(t, got, c)
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
		mustEqual(t, got, want)
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

func TestEndLiveCallsMatchesLiveAndFinal(t *testing.T) {
	// The SQL status list agrees with core's Live.
	for _, st := range []string{core.CallRinging, core.CallInProgress, core.CallTransferred, core.CallEnded,
		core.CallFailed, core.CallRejected, core.CallDialing} {
		if live := strings.Contains(liveCallStatuses, "'"+st+"'"); live != (core.Call{Status: st}).Live() {
			t.Errorf("call status %s: in the live list %v", st, live)
		}
	}
	// Transfers are picked by core.Transfer.Final itself: no list to agree.
}

func TestEndLiveCallsOnEmptyStore(t *testing.T) {
	s, _ := openTemp(t)
	if n, err := s.EndLiveCalls(t.Context(), core.EndShutdown, now()); err != nil || n != 0 {
		t.Errorf("ended %d (%v)", n, err)
	}
}

func TestCallsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "voicedock.db")
	key := newKey(t)
	ctx := t.Context()
	s, err := Open(ctx, path, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := callFixture(t, core.CallInProgress)
	createCalls(t, s, c)
	tr := transferFixture(t, c.ID, core.TransferTrying)
	saveTransfers(t, s, tr)
	c.Transfers = []core.Transfer{tr}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, key)
	mustEqual(t, getCall(t, s, c.ID), c)
}

func TestMigrationFromVersion1KeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "voicedock.db")

	// A database as the previous release left it: 0001 only, with data.
	initSQL, err := fs.ReadFile(embeddedMigrations, "migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	v1 := fstest.MapFS{"migrations/0001_init.sql": {Data: initSQL}}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db, v1, time.Now, discardLogger()); err != nil {
		t.Fatal(err)
	}
	ts := now()
	a := core.Assistant{ID: newID(t), AssistantConfig: core.AssistantConfig{Name: "Front desk", FirstMessage: "Hi."},
		CreatedAt: ts, UpdatedAt: ts}
	tr := core.Trunk{ID: newID(t), TrunkConfig: core.TrunkConfig{Name: "PBX", Host: "pbx.example.com", Port: 5060,
		Transport: core.TransportUDP, Username: "u"}, CreatedAt: ts, UpdatedAt: ts}
	n := numberFixture(t, "+31201234567", &a.ID, &tr.ID)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO assistants (id, name, config, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			[]any{a.ID, a.Name, `{"name":"Front desk","first_message":"Hi."}`, formatTime(ts), formatTime(ts)}},
		{"INSERT INTO trunks (id, name, host, port, transport, username, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			[]any{tr.ID, tr.Name, tr.Host, tr.Port, tr.Transport, tr.Username, formatTime(ts), formatTime(ts)}},
		{"INSERT INTO phone_numbers (id, phone_number, name, assistant_id, transfer_trunk_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			[]any{n.ID, n.PhoneNumber, n.Name, a.ID, tr.ID, formatTime(n.CreatedAt), formatTime(n.UpdatedAt)}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	applied := appliedMigrations(t, db)
	if len(applied) != 1 {
		t.Fatalf("version 1 database has %+v", applied)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, path, newKey(t))
	got := appliedMigrations(t, s.read)
	if len(got) < 2 || got[0] != applied[0] || got[1].version != 2 || got[1].name != "migrations/0002_calls.sql" {
		t.Fatalf("applied %+v", got)
	}
	gotA, err := s.GetAssistant(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, gotA, a)
	gotT, err := s.GetTrunk(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, gotT, tr)
	gotN, err := s.GetPhoneNumber(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, gotN, n)

	// The new tables work, and a call outlives its number and assistant.
	c := callFixture(t, core.CallEnded)
	c.NumberID, c.AssistantID = n.ID, a.ID
	createCalls(t, s, c)
	if err := s.DeletePhoneNumber(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAssistant(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, getCall(t, s, c.ID), c)
}

func TestDeletingACallDeletesItsTransfers(t *testing.T) {
	// No method deletes calls yet; the schema cascades for when one does.
	s, _ := openTemp(t)
	ctx := t.Context()
	c := bareCall(t, core.CallEnded)
	createCalls(t, s, c)
	saveTransfers(t, s, transferFixture(t, c.ID, core.TransferFailed))
	if _, err := s.write.ExecContext(ctx, "DELETE FROM calls WHERE id = ?", c.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM transfers").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d transfers left (%v)", n, err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	s, _ := openTemp(t)
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
			if _, err := s.EndLiveCalls(ctx, core.EndShutdown, now()); err != nil {
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
	if _, err := s.EndLiveCalls(ctx, core.EndShutdown, now()); err != nil {
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
func callWriter(ctx context.Context, s *Store, w, rounds int) error {
	for i := range rounds {
		id, err := core.NewID()
		if err != nil {
			return err
		}
		ts := now()
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
			tr.Steps = append(tr.Steps, core.TransferStep{Status: st, At: now()})
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
func callReader(ctx context.Context, s *Store, rounds int) error {
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

func BenchmarkSaveTransfer(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	c := callFixture(b, core.CallInProgress)
	createCalls(b, s, c)
	b.Run("insert", func(b *testing.B) {
		tr := transferFixture(b, c.ID, core.TransferRequested)
		b.ReportAllocs()
		for b.Loop() {
			tr.ID = newID(b)
			if err := s.SaveTransfer(ctx, tr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update", func(b *testing.B) {
		tr := transferFixture(b, c.ID, core.TransferRinging)
		saveTransfers(b, s, tr)
		b.ReportAllocs()
		for b.Loop() {
			tr.SIPStatus++
			if err := s.SaveTransfer(ctx, tr); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetCall(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	c := callFixture(b, core.CallEnded)
	createCalls(b, s, c)
	for range 3 {
		saveTransfers(b, s, transferFixture(b, c.ID, core.TransferFailed))
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.GetCall(ctx, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		if len(got.Transfers) != 3 {
			b.Fatalf("%d transfers", len(got.Transfers))
		}
	}
}

func BenchmarkListCalls(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	for range 200 {
		c := callFixture(b, core.CallEnded)
		createCalls(b, s, c)
		saveTransfers(b, s, transferFixture(b, c.ID, core.TransferFailed))
	}
	b.ReportAllocs()
	for b.Loop() {
		list, total, err := s.ListCalls(ctx, core.CallFilter{Page: core.Page{Limit: core.DefaultPageLimit}})
		if err != nil {
			b.Fatal(err)
		}
		if total != 200 || len(list) != core.DefaultPageLimit {
			b.Fatalf("%d of %d", len(list), total)
		}
	}
}

// SaveTransferAndCall stores both or neither: a call that is not stored
// leaves no transfer behind.
func TestSaveTransferAndCallAllOrNothing(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	c := bareCall(t, core.CallInProgress)
	if err := s.CreateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	tr := core.Transfer{ID: "01a20f03-ddbd-79af-b42f-000000000001", CallID: c.ID, Destination: "+31612345678", DestinationType: "number",
		Status: core.TransferCompleted, Steps: []core.TransferStep{{Status: core.TransferCompleted, At: now}}, CreatedAt: now, UpdatedAt: now}
	c.Status = core.CallTransferred
	if err := s.SaveTransferAndCall(ctx, tr, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCall(ctx, c.ID)
	if err != nil || got.Status != core.CallTransferred || len(got.Transfers) != 1 || got.Transfers[0].Status != core.TransferCompleted {
		t.Fatalf("stored %+v, %v", got, err)
	}
	ghost := bareCall(t, core.CallTransferred)
	tr2 := tr
	tr2.ID, tr2.CallID = "01a20f03-ddbd-79af-b42f-000000000002", c.ID
	if err := s.SaveTransferAndCall(ctx, tr2, ghost); !core.HasCode(err, core.CodeNotFound) {
		t.Fatalf("update of a call never stored: %v", err)
	}
	if got, _ := s.GetCall(ctx, c.ID); len(got.Transfers) != 1 {
		t.Fatalf("the transfer of the failed write was stored: %+v", got.Transfers)
	}
}
