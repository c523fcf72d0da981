package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/voicedock/voicedock/core"
)

const (
	hookA = "https://a.example.com/hook"
	hookB = "https://b.example.com/hook"
)

// deliveryFixture is a new delivery of an event of the call (none when
// callID is empty) to url, created at at.
func deliveryFixture(t testing.TB, callID, url string, at time.Time) core.WebhookDelivery {
	t.Helper()
	id := newID(t)
	return core.WebhookDelivery{
		ID: id, CallID: callID, AssistantID: newID(t), URL: url, EventType: core.WebhookStatusUpdate,
		Body:   json.RawMessage(fmt.Sprintf(`{"message": {"type": "status-update", "n": %q}}`, id)),
		Status: core.DeliveryPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at,
	}
}

func getDelivery(t *testing.T, s *Store, id string) core.WebhookDelivery {
	t.Helper()
	d, err := s.GetDelivery(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// addDeliveries writes deliveries the way the core does: with a change
// of their call (a new call for each call id not yet stored).
func addDeliveries(t *testing.T, s *Store, ds ...core.WebhookDelivery) {
	t.Helper()
	for _, d := range ds {
		c := bareCall(t, core.CallRinging)
		c.ID = d.CallID
		if d.CallID == "" {
			c.ID = newID(t)
		}
		err := s.CreateCall(t.Context(), c, d)
		if core.HasCode(err, core.CodeConflict) {
			err = s.UpdateCall(t.Context(), c, d)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func dueIDs(t *testing.T, s *Store, at time.Time, limit int) []string {
	t.Helper()
	due, err := s.DueDeliveries(t.Context(), at, limit)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, d := range due {
		if len(d.Body) == 0 {
			t.Errorf("due delivery %s without its body", d.ID)
		}
		ids = append(ids, d.ID)
	}
	return ids
}

func countDeliveries(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.read.QueryRowContext(t.Context(), "SELECT count(*) FROM webhook_deliveries").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDeliveriesAreWrittenWithTheChange(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	c := bareCall(t, core.CallRinging)
	d1, d2 := deliveryFixture(t, c.ID, hookA, c.CreatedAt), deliveryFixture(t, c.ID, hookB, c.CreatedAt)
	d2.AssistantID, d2.NextAttemptAt, d2.UpdatedAt = "", time.Time{}, time.Time{} // zero: the creation time
	if err := s.CreateCall(ctx, c, d1, d2); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, getDelivery(t, s, d1.ID), d1)
	want2 := d2
	want2.NextAttemptAt, want2.UpdatedAt = d2.CreatedAt, d2.CreatedAt
	mustEqual(t, getDelivery(t, s, d2.ID), want2)

	c.Status = core.CallInProgress
	d3 := deliveryFixture(t, c.ID, hookA, now())
	if err := s.UpdateCall(ctx, c, d3); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, getDelivery(t, s, d3.ID), d3)

	tr := transferFixture(t, c.ID, core.TransferRinging)
	d4 := deliveryFixture(t, c.ID, hookA, now())
	d4.EventType = core.WebhookTransferUpdate
	if err := s.SaveTransfer(ctx, tr, d4); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, getDelivery(t, s, d4.ID), d4)
	// Saving the same transfer again replaces it and adds the new event.
	d5 := deliveryFixture(t, c.ID, hookA, now())
	if err := s.SaveTransfer(ctx, tr, d5); err != nil {
		t.Fatal(err)
	}
	if n := countDeliveries(t, s); n != 5 {
		t.Errorf("%d deliveries stored, want 5", n)
	}

	// Whatever status, attempts or outcome a new delivery carries, it
	// starts pending with no attempt made; the body is kept byte for byte.
	odd := deliveryFixture(t, c.ID, hookA, now())
	odd.Status, odd.Attempts, odd.LastStatus, odd.LastError, odd.DeliveredAt = core.DeliveryDead, 3, 500, "x", ptr(now())
	odd.Body = json.RawMessage("{ \"spaced\" :\t[1, 2.50, \"\\u00e9\"] }")
	if err := s.UpdateCall(ctx, c, odd); err != nil {
		t.Fatal(err)
	}
	want := odd
	want.Status, want.Attempts, want.LastStatus, want.LastError, want.DeliveredAt = core.DeliveryPending, 0, 0, "", nil
	mustEqual(t, getDelivery(t, s, odd.ID), want)
}

func TestDeliveriesAreNotWrittenWhenTheChangeFails(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	c := bareCall(t, core.CallRinging)
	createCalls(t, s, c)
	other := bareCall(t, core.CallRinging)
	createCalls(t, s, other)
	tr := transferFixture(t, other.ID, core.TransferTrying)
	saveTransfers(t, s, tr)

	dup := c
	mustCode(t, s.CreateCall(ctx, dup, deliveryFixture(t, c.ID, hookA, now())), core.CodeConflict, "id")
	mustCode(t, s.UpdateCall(ctx, bareCall(t, core.CallEnded), deliveryFixture(t, "", hookA, now())), core.CodeNotFound, "id")
	mustCode(t, s.SaveTransfer(ctx, transferFixture(t, newID(t), core.TransferTrying),
		deliveryFixture(t, c.ID, hookA, now())), core.CodeNotFound, "call_id")
	moved := tr
	moved.CallID = c.ID
	mustCode(t, s.SaveTransfer(ctx, moved, deliveryFixture(t, c.ID, hookA, now())), core.CodeConflict, "call_id")
	if n := countDeliveries(t, s); n != 0 {
		t.Fatalf("%d deliveries written by failed changes", n)
	}

	// And a delivery that cannot be written fails its change.
	bad := deliveryFixture(t, "", hookA, now())
	bad.Body = json.RawMessage(`{"truncated":`)
	fresh := bareCall(t, core.CallRinging)
	if err := s.CreateCall(ctx, fresh, deliveryFixture(t, fresh.ID, hookA, now()), bad); err == nil {
		t.Fatal("a delivery with a body that is not JSON was written")
	}
	mustCode(t, func() error { _, err := s.GetCall(ctx, fresh.ID); return err }(), core.CodeNotFound, "id")
	first := deliveryFixture(t, c.ID, hookA, now())
	addDeliveries(t, s, first)
	changed := c
	changed.Status = core.CallInProgress
	mustCode(t, s.UpdateCall(ctx, changed, deliveryFixture(t, c.ID, hookB, now()), first), core.CodeConflict, "id")
	if got := getCall(t, s, c.ID); got.Status != core.CallRinging {
		t.Errorf("call updated to %s though its delivery failed", got.Status)
	}
	if n := countDeliveries(t, s); n != 1 {
		t.Fatalf("%d deliveries, want only the first", n)
	}
}

func TestDueDeliveriesKeepEachCallInOrder(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	t0 := now().Add(-time.Minute)
	callA, callB := newID(t), newID(t)
	a1 := deliveryFixture(t, callA, hookA, t0)
	b1 := deliveryFixture(t, callB, hookA, t0.Add(time.Second))
	a2 := deliveryFixture(t, callA, hookA, t0.Add(2*time.Second))
	aOther := deliveryFixture(t, callA, hookB, t0.Add(3*time.Second)) // the same call, another receiver
	n1 := deliveryFixture(t, "", hookA, t0.Add(4*time.Second))
	n2 := deliveryFixture(t, "", hookA, t0.Add(5*time.Second))
	b2 := deliveryFixture(t, callB, hookA, t0.Add(6*time.Second))
	later := deliveryFixture(t, newID(t), hookA, now().Add(time.Hour)) // not due yet
	addDeliveries(t, s, a1, b1, a2, aOther, n1, n2, b2, later)

	at := now()
	mustEqual(t, dueIDs(t, s, at, 100), []string{a1.ID, b1.ID, aOther.ID, n1.ID, n2.ID})
	mustEqual(t, dueIDs(t, s, at, 2), []string{a1.ID, b1.ID})
	mustEqual(t, dueIDs(t, s, at, 0), []string{})
	mustEqual(t, dueIDs(t, s, t0.Add(-time.Millisecond), 100), []string{})

	// a1 failed and waits to retry: a2 waits behind it, call B does not.
	a1.Attempts, a1.LastStatus, a1.LastError, a1.NextAttemptAt = 1, 503, "Service Unavailable", at.Add(time.Minute)
	if err := s.UpdateDelivery(ctx, a1); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, dueIDs(t, s, at, 100), []string{b1.ID, aOther.ID, n1.ID, n2.ID})
	// When a1 falls due, it goes before a2, which is due long since.
	mustEqual(t, dueIDs(t, s, at.Add(time.Minute), 100), []string{b1.ID, aOther.ID, n1.ID, n2.ID, a1.ID})

	// b1 delivered: b2 is next for call B. a1 dead: a2 is next for A.
	b1.Status, b1.Attempts, b1.LastStatus, b1.DeliveredAt = core.DeliveryDelivered, 1, 200, ptr(at)
	a1.Status, a1.Attempts, a1.LastStatus, a1.LastError = core.DeliveryDead, 2, 410, "Gone"
	for _, d := range []core.WebhookDelivery{b1, a1} {
		if err := s.UpdateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	mustEqual(t, dueIDs(t, s, at, 100), []string{a2.ID, aOther.ID, n1.ID, n2.ID, b2.ID})

	// What DueDeliveries returns is the stored delivery, body included.
	due, err := s.DueDeliveries(ctx, at, 1)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, due, []core.WebhookDelivery{a2})
}

func TestNextDueAt(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	nextDue := func() (time.Time, bool) {
		t.Helper()
		at, ok, err := s.NextDueAt(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return at, ok
	}
	if at, ok := nextDue(); ok {
		t.Fatalf("NextDueAt on an empty outbox: %v", at)
	}
	t0 := now()
	call := newID(t)
	first, second := deliveryFixture(t, call, hookA, t0), deliveryFixture(t, call, hookA, t0.Add(time.Second))
	addDeliveries(t, s, first, second)
	if at, ok := nextDue(); !ok || !at.Equal(t0) {
		t.Fatalf("NextDueAt %v %v, want %v", at, ok, t0)
	}
	// The first waits an hour to retry; the second, though due, waits
	// behind it and does not count.
	retry := t0.Add(time.Hour)
	first.Attempts, first.NextAttemptAt = 1, retry
	if err := s.UpdateDelivery(ctx, first); err != nil {
		t.Fatal(err)
	}
	if at, ok := nextDue(); !ok || !at.Equal(retry) {
		t.Fatalf("NextDueAt %v %v, want %v", at, ok, retry)
	}
	solo := deliveryFixture(t, "", hookA, t0.Add(time.Minute))
	addDeliveries(t, s, solo)
	if at, ok := nextDue(); !ok || !at.Equal(solo.NextAttemptAt) {
		t.Fatalf("NextDueAt %v %v, want %v", at, ok, solo.NextAttemptAt)
	}
	for _, d := range []core.WebhookDelivery{first, second, solo} {
		d.Status, d.DeliveredAt = core.DeliveryDelivered, ptr(now())
		if err := s.UpdateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if at, ok := nextDue(); ok {
		t.Fatalf("NextDueAt with nothing pending: %v", at)
	}
}

func TestUpdateDelivery(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	d := deliveryFixture(t, newID(t), hookA, now())
	addDeliveries(t, s, d)

	up := d
	up.Status, up.Attempts, up.LastStatus, up.LastError = core.DeliveryPending, 1, 500, "Internal Server Error"
	up.NextAttemptAt, up.UpdatedAt = d.CreatedAt.Add(1500*time.Millisecond), d.CreatedAt.Add(time.Second)
	if err := s.UpdateDelivery(ctx, up); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, getDelivery(t, s, d.ID), up)

	// Only the outcome changes: the URL, body, event and creation stay.
	done := up
	done.Status, done.Attempts, done.LastStatus, done.LastError = core.DeliveryDelivered, 2, 204, ""
	done.DeliveredAt, done.UpdatedAt = ptr(up.NextAttemptAt), up.NextAttemptAt
	changed := done
	changed.URL, changed.Body, changed.EventType, changed.CallID = hookB, json.RawMessage(`{}`), "other", ""
	changed.AssistantID, changed.CreatedAt = "", time.Time{}
	if err := s.UpdateDelivery(ctx, changed); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, getDelivery(t, s, d.ID), done)

	// The last error and status are cleared when the outcome has none.
	var lastStatus, lastError sql.NullString
	if err := s.read.QueryRowContext(ctx, "SELECT last_status, last_error FROM webhook_deliveries WHERE id = ?",
		d.ID).Scan(&lastStatus, &lastError); err != nil {
		t.Fatal(err)
	}
	if lastStatus.String != "204" || lastError.Valid {
		t.Errorf("last_status %v, last_error %v", lastStatus, lastError)
	}

	// A zero UpdatedAt is the store's now.
	before := now()
	done.UpdatedAt = time.Time{}
	if err := s.UpdateDelivery(ctx, done); err != nil {
		t.Fatal(err)
	}
	if got := getDelivery(t, s, d.ID).UpdatedAt; got.Before(before) {
		t.Errorf("updated_at %v, before %v", got, before)
	}

	missing := deliveryFixture(t, "", hookA, now())
	mustCode(t, s.UpdateDelivery(ctx, missing), core.CodeNotFound, "id")
	bad := done
	bad.Status = "lost"
	mustCode(t, s.UpdateDelivery(ctx, bad), core.CodeInvalidRequest, "status")
	bad.Status, bad.Attempts = core.DeliveryPending, -1
	mustCode(t, s.UpdateDelivery(ctx, bad), core.CodeInvalidRequest, "attempts")
	_, err := s.GetDelivery(ctx, missing.ID)
	mustCode(t, err, core.CodeNotFound, "id")
}

func TestListDeliveries(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	callA, callB := newID(t), newID(t)
	var all []core.WebhookDelivery // oldest first
	for i := range 7 {
		call := callA
		if i%2 == 1 {
			call = callB
		}
		if i == 6 {
			call = ""
		}
		all = append(all, deliveryFixture(t, call, hookA, now()))
	}
	addDeliveries(t, s, all...)
	for _, i := range []int{0, 3} {
		all[i].Status, all[i].Attempts, all[i].DeliveredAt = core.DeliveryDelivered, 1, ptr(now())
		if err := s.UpdateDelivery(ctx, all[i]); err != nil {
			t.Fatal(err)
		}
		all[i].UpdatedAt = getDelivery(t, s, all[i].ID).UpdatedAt
	}
	// Listed without their bodies, newest first.
	listed := func(idx ...int) []core.WebhookDelivery {
		out := []core.WebhookDelivery{}
		for _, i := range idx {
			d := all[i]
			d.Body = nil
			out = append(out, d)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		f     core.DeliveryFilter
		want  []core.WebhookDelivery
		wantN int
	}{
		{"all", core.DeliveryFilter{}, listed(6, 5, 4, 3, 2, 1, 0), 7},
		{"call A", core.DeliveryFilter{CallID: callA}, listed(4, 2, 0), 3},
		{"call B", core.DeliveryFilter{CallID: callB}, listed(5, 3, 1), 3},
		{"delivered", core.DeliveryFilter{Status: core.DeliveryDelivered}, listed(3, 0), 2},
		{"pending of A", core.DeliveryFilter{CallID: callA, Status: core.DeliveryPending}, listed(4, 2), 2},
		{"dead", core.DeliveryFilter{Status: core.DeliveryDead}, listed(), 0},
		{"unknown call", core.DeliveryFilter{CallID: newID(t)}, listed(), 0},
		{"page", core.DeliveryFilter{Page: core.Page{Limit: 2, Offset: 1}}, listed(5, 4), 7},
		{"past the end", core.DeliveryFilter{Page: core.Page{Offset: 50}}, listed(), 7},
	} {
		got, n, err := s.ListDeliveries(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n != tc.wantN {
			t.Errorf("%s: total %d, want %d", tc.name, n, tc.wantN)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d listed, want %d", tc.name, len(got), len(tc.want))
		}
		mustEqual(t, got, tc.want)
	}
	_, _, err := s.ListDeliveries(ctx, core.DeliveryFilter{Page: core.Page{Limit: core.MaxPageLimit + 1}})
	mustCode(t, err, core.CodeInvalidRequest, "limit")
}

func TestDeliveriesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "voicedock.db")
	key := newKey(t)
	s, err := Open(t.Context(), path, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := deliveryFixture(t, newID(t), hookA, now()), deliveryFixture(t, "", hookB, now())
	addDeliveries(t, s, d1, d2)
	d2.Status, d2.Attempts, d2.LastStatus, d2.DeliveredAt = core.DeliveryDelivered, 1, 200, ptr(now())
	if err := s.UpdateDelivery(t.Context(), d2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, key)
	mustEqual(t, getDelivery(t, s, d1.ID), d1)
	mustEqual(t, getDelivery(t, s, d2.ID), d2)
	mustEqual(t, dueIDs(t, s, now(), 10), []string{d1.ID})
}

// A deliveries' call record may go; the deliveries stay.
func TestDeliveriesOutliveTheirCall(t *testing.T) {
	s, _ := openTemp(t)
	c := bareCall(t, core.CallEnded)
	d := deliveryFixture(t, c.ID, hookA, now())
	if err := s.CreateCall(t.Context(), c, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.ExecContext(t.Context(), "DELETE FROM calls WHERE id = ?", c.ID); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, getDelivery(t, s, d.ID), d)
}

func TestDeliveryQueriesUseIndexes(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	listQuery := func(f core.DeliveryFilter) string {
		where, args := deliveryFilter(f)
		q := "SELECT " + deliveryColumns + " FROM webhook_deliveries" + where + " ORDER BY id DESC LIMIT 5"
		for _, a := range args {
			q = strings.Replace(q, "?", "'"+a.(string)+"'", 1)
		}
		return q
	}
	for _, q := range []struct{ name, sql, index string }{
		{"due", strings.Replace(strings.Replace(dueQuery, "?", "''", 1), "?", "5", 1), "webhook_deliveries_due"},
		{"next due", nextDueQuery, "webhook_deliveries_due"},
		{"list", listQuery(core.DeliveryFilter{}), "sqlite_autoindex_webhook_deliveries_1"},
		{"list by call", listQuery(core.DeliveryFilter{CallID: "x"}), "webhook_deliveries_call_id"},
		{"list by status", listQuery(core.DeliveryFilter{Status: "dead"}), "webhook_deliveries_status_id"},
		{"list by both", listQuery(core.DeliveryFilter{CallID: "x", Status: "dead"}), "webhook_deliveries_call_id"},
	} {
		rows, err := s.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.sql)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if len(plan) == 0 || !strings.Contains(plan[0]+" ", "INDEX "+q.index+" ") {
			t.Errorf("%s: not on %s: %s", q.name, q.index, joined)
		}
		if strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("%s: sorts: %s", q.name, joined)
		}
		if strings.Contains(q.sql, "NOT EXISTS") && !strings.Contains(joined, "INDEX webhook_deliveries_pending_call (call_id=? AND url=? AND id<?)") {
			t.Errorf("%s: the order probe is not one seek: %s", q.name, joined)
		}
	}
}

func TestMigrationFromVersion2KeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "voicedock.db")

	// A database as the previous release left it: 0001 and 0002, a call
	// with a transfer in it.
	v2 := fstest.MapFS{}
	for _, name := range []string{"migrations/0001_init.sql", "migrations/0002_calls.sql"} {
		b, err := fs.ReadFile(embeddedMigrations, name)
		if err != nil {
			t.Fatal(err)
		}
		v2[name] = &fstest.MapFile{Data: b}
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db, v2, time.Now, discardLogger()); err != nil {
		t.Fatal(err)
	}
	c := callFixture(t, core.CallEnded)
	tr := transferFixture(t, c.ID, core.TransferCompleted)
	steps, err := encodeSteps(tr.Steps)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		// The columns of calls as migration 2 made them.
		{"INSERT INTO calls (id, direction, status, caller_phone, agent_phone, number_id, assistant_id, " +
			"sip_call_id, remote_addr, trunk_id, started_at, ended_at, duration_seconds, end_reason, error, " +
			"created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			[]any{c.ID, c.Direction, c.Status, c.CallerPhone, c.AgentPhone, c.NumberID, c.AssistantID, c.SIPCallID,
				c.RemoteAddr, c.TrunkID, formatTime(*c.StartedAt), formatTime(*c.EndedAt), c.DurationSeconds,
				c.EndReason, c.Error, formatTime(c.CreatedAt), formatTime(c.UpdatedAt)}},
		{"INSERT INTO transfers (id, call_id, destination, destination_type, refer_to, message, status, " +
			"sip_status, reason, requested_by, steps, created_at, updated_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			[]any{tr.ID, tr.CallID, tr.Destination, tr.DestinationType, tr.ReferTo, tr.Message, tr.Status,
				tr.SIPStatus, tr.Reason, tr.RequestedBy, steps, formatTime(tr.CreatedAt), formatTime(tr.UpdatedAt),
				formatTime(*tr.EndedAt)}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	applied := appliedMigrations(t, db)
	if len(applied) != 2 {
		t.Fatalf("version 2 database has %+v", applied)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, path, newKey(t))
	got := appliedMigrations(t, s.read)
	if len(got) < 3 || got[0] != applied[0] || got[1] != applied[1] ||
		got[2].version != 3 || got[2].name != "migrations/0003_webhook_deliveries.sql" {
		t.Fatalf("applied %+v", got)
	}
	want := c
	want.Transfers = []core.Transfer{tr}
	mustEqual(t, getCall(t, s, c.ID), want)

	// The outbox works on the upgraded file.
	c.Status = core.CallFailed
	d := deliveryFixture(t, c.ID, hookA, now())
	if err := s.UpdateCall(ctx, c, d); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, getDelivery(t, s, d.ID), d)
	mustEqual(t, dueIDs(t, s, now(), 10), []string{d.ID})
}

// TestClaimDeliveries checks the dispatcher's claim: one write moves the
// next attempt of the pending deliveries named, skips the others, and a
// claimed head keeps its call's later deliveries waiting behind it.
func TestClaimDeliveries(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	t0 := now()
	call := newID(t)
	head, behind := deliveryFixture(t, call, hookA, t0), deliveryFixture(t, call, hookA, t0)
	solo, done := deliveryFixture(t, "", hookB, t0), deliveryFixture(t, "", hookB, t0)
	addDeliveries(t, s, head, behind, solo, done)
	done.Status, done.Attempts, done.DeliveredAt = core.DeliveryDelivered, 1, ptr(t0)
	if err := s.UpdateDelivery(ctx, done); err != nil {
		t.Fatal(err)
	}
	until, at := t0.Add(time.Minute), t0.Add(time.Millisecond)
	claimed, err := s.ClaimDeliveries(ctx, []string{head.ID, solo.ID, done.ID, "no-such-delivery"}, until, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 2 || !((claimed[0] == head.ID && claimed[1] == solo.ID) || (claimed[0] == solo.ID && claimed[1] == head.ID)) {
		t.Errorf("claimed %v, want %s and %s", claimed, head.ID, solo.ID)
	}
	for _, id := range []string{head.ID, solo.ID} {
		if d := getDelivery(t, s, id); !d.NextAttemptAt.Equal(until) || !d.UpdatedAt.Equal(at) || d.Status != core.DeliveryPending || d.Attempts != 0 {
			t.Errorf("claimed delivery %+v", d)
		}
	}
	if d := getDelivery(t, s, done.ID); d.Status != core.DeliveryDelivered || !d.NextAttemptAt.Equal(done.NextAttemptAt) {
		t.Errorf("a delivered delivery was claimed: %+v", d)
	}
	if ids := dueIDs(t, s, at, 10); len(ids) != 0 {
		t.Errorf("due while claimed: %v", ids)
	}
	if ids := dueIDs(t, s, until, 10); len(ids) != 2 {
		t.Errorf("due once the claims run out: %v, want the head and the solo", ids)
	}
	if claimed, err := s.ClaimDeliveries(ctx, nil, until, at); err != nil || len(claimed) != 0 {
		t.Errorf("claiming none: %v %v", claimed, err)
	}
}
