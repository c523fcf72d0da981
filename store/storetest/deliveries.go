package storetest

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

const (
	hookA = "https://a.example.com/hook"
	hookB = "https://b.example.com/hook"
)

// DeliveryFixture is a new delivery of an event of the call (none when
// callID is empty) to url, created at at.
func DeliveryFixture(t testing.TB, callID, url string, at time.Time) core.WebhookDelivery {
	t.Helper()
	id := NewID(t)
	return core.WebhookDelivery{
		ID: id, CallID: callID, AssistantID: NewID(t), URL: url, EventType: core.WebhookStatusUpdate,
		Body:   json.RawMessage(fmt.Sprintf(`{"message": {"type": "status-update", "n": %q}}`, id)),
		Status: core.DeliveryPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at,
	}
}

func GetDelivery(t *testing.T, s Store, id string) core.WebhookDelivery {
	t.Helper()
	d, err := s.GetDelivery(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// AddDeliveries writes deliveries the way the core does: with a change
// of their call (a new call for each call id not yet stored).
func AddDeliveries(t *testing.T, s Store, ds ...core.WebhookDelivery) {
	t.Helper()
	for _, d := range ds {
		c := BareCall(t, core.CallRinging)
		c.ID = d.CallID
		if d.CallID == "" {
			c.ID = NewID(t)
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

func DueIDs(t *testing.T, s Store, at time.Time, limit int) []string {
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

func countDeliveries(t *testing.T, s Store) int {
	t.Helper()
	_, n, err := s.ListDeliveries(t.Context(), core.DeliveryFilter{Page: core.Page{Limit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testDeliveriesAreWrittenWithTheChange(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	c := BareCall(t, core.CallRinging)
	d1, d2 := DeliveryFixture(t, c.ID, hookA, c.CreatedAt), DeliveryFixture(t, c.ID, hookB, c.CreatedAt)
	d2.AssistantID, d2.NextAttemptAt, d2.UpdatedAt = "", time.Time{}, time.Time{} // zero: the creation time
	if err := s.CreateCall(ctx, c, d1, d2); err != nil {
		t.Fatal(err)
	}
	MustEqual(t, GetDelivery(t, s, d1.ID), d1)
	want2 := d2
	want2.NextAttemptAt, want2.UpdatedAt = d2.CreatedAt, d2.CreatedAt
	MustEqual(t, GetDelivery(t, s, d2.ID), want2)

	c.Status = core.CallInProgress
	d3 := DeliveryFixture(t, c.ID, hookA, Now())
	if err := s.UpdateCall(ctx, c, d3); err != nil {
		t.Fatal(err)
	}
	MustEqual(t, GetDelivery(t, s, d3.ID), d3)

	tr := TransferFixture(t, c.ID, core.TransferRinging)
	d4 := DeliveryFixture(t, c.ID, hookA, Now())
	d4.EventType = core.WebhookTransferUpdate
	if err := s.SaveTransfer(ctx, tr, d4); err != nil {
		t.Fatal(err)
	}
	MustEqual(t, GetDelivery(t, s, d4.ID), d4)
	// Saving the same transfer again replaces it and adds the new event.
	d5 := DeliveryFixture(t, c.ID, hookA, Now())
	if err := s.SaveTransfer(ctx, tr, d5); err != nil {
		t.Fatal(err)
	}
	if n := countDeliveries(t, s); n != 5 {
		t.Errorf("%d deliveries stored, want 5", n)
	}

	// Whatever status, attempts or outcome a new delivery carries, it
	// starts pending with no attempt made; the body is kept byte for byte.
	odd := DeliveryFixture(t, c.ID, hookA, Now())
	odd.Status, odd.Attempts, odd.LastStatus, odd.LastError, odd.DeliveredAt = core.DeliveryDead, 3, 500, "x", Ptr(Now())
	odd.Body = json.RawMessage("{ \"spaced\" :\t[1, 2.50, \"\\u00e9\"] }")
	if err := s.UpdateCall(ctx, c, odd); err != nil {
		t.Fatal(err)
	}
	want := odd
	want.Status, want.Attempts, want.LastStatus, want.LastError, want.DeliveredAt = core.DeliveryPending, 0, 0, "", nil
	MustEqual(t, GetDelivery(t, s, odd.ID), want)
}

func testDeliveriesAreNotWrittenWhenTheChangeFails(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	c := BareCall(t, core.CallRinging)
	CreateCalls(t, s, c)
	other := BareCall(t, core.CallRinging)
	CreateCalls(t, s, other)
	tr := TransferFixture(t, other.ID, core.TransferTrying)
	SaveTransfers(t, s, tr)

	dup := c
	MustCode(t, s.CreateCall(ctx, dup, DeliveryFixture(t, c.ID, hookA, Now())), core.CodeConflict, "id")
	MustCode(t, s.UpdateCall(ctx, BareCall(t, core.CallEnded), DeliveryFixture(t, "", hookA, Now())), core.CodeNotFound, "id")
	MustCode(t, s.SaveTransfer(ctx, TransferFixture(t, NewID(t), core.TransferTrying),
		DeliveryFixture(t, c.ID, hookA, Now())), core.CodeNotFound, "call_id")
	moved := tr
	moved.CallID = c.ID
	MustCode(t, s.SaveTransfer(ctx, moved, DeliveryFixture(t, c.ID, hookA, Now())), core.CodeConflict, "call_id")
	if n := countDeliveries(t, s); n != 0 {
		t.Fatalf("%d deliveries written by failed changes", n)
	}

	// And a delivery that cannot be written fails its change.
	bad := DeliveryFixture(t, "", hookA, Now())
	bad.Body = json.RawMessage(`{"truncated":`)
	fresh := BareCall(t, core.CallRinging)
	if err := s.CreateCall(ctx, fresh, DeliveryFixture(t, fresh.ID, hookA, Now()), bad); err == nil {
		t.Fatal("a delivery with a body that is not JSON was written")
	}
	MustCode(t, func() error { _, err := s.GetCall(ctx, fresh.ID); return err }(), core.CodeNotFound, "id")
	first := DeliveryFixture(t, c.ID, hookA, Now())
	AddDeliveries(t, s, first)
	changed := c
	changed.Status = core.CallInProgress
	MustCode(t, s.UpdateCall(ctx, changed, DeliveryFixture(t, c.ID, hookB, Now()), first), core.CodeConflict, "id")
	if got := GetCall(t, s, c.ID); got.Status != core.CallRinging {
		t.Errorf("call updated to %s though its delivery failed", got.Status)
	}
	if n := countDeliveries(t, s); n != 1 {
		t.Fatalf("%d deliveries, want only the first", n)
	}
}

func testDueDeliveriesKeepEachCallInOrder(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	t0 := Now().Add(-time.Minute)
	callA, callB := NewID(t), NewID(t)
	a1 := DeliveryFixture(t, callA, hookA, t0)
	b1 := DeliveryFixture(t, callB, hookA, t0.Add(time.Second))
	a2 := DeliveryFixture(t, callA, hookA, t0.Add(2*time.Second))
	aOther := DeliveryFixture(t, callA, hookB, t0.Add(3*time.Second)) // the same call, another receiver
	n1 := DeliveryFixture(t, "", hookA, t0.Add(4*time.Second))
	n2 := DeliveryFixture(t, "", hookA, t0.Add(5*time.Second))
	b2 := DeliveryFixture(t, callB, hookA, t0.Add(6*time.Second))
	later := DeliveryFixture(t, NewID(t), hookA, Now().Add(time.Hour)) // not due yet
	AddDeliveries(t, s, a1, b1, a2, aOther, n1, n2, b2, later)

	at := Now()
	MustEqual(t, DueIDs(t, s, at, 100), []string{a1.ID, b1.ID, aOther.ID, n1.ID, n2.ID})
	MustEqual(t, DueIDs(t, s, at, 2), []string{a1.ID, b1.ID})
	MustEqual(t, DueIDs(t, s, at, 0), []string{})
	MustEqual(t, DueIDs(t, s, t0.Add(-time.Millisecond), 100), []string{})

	// a1 failed and waits to retry: a2 waits behind it, call B does not.
	a1.Attempts, a1.LastStatus, a1.LastError, a1.NextAttemptAt = 1, 503, "Service Unavailable", at.Add(time.Minute)
	if err := s.UpdateDelivery(ctx, a1); err != nil {
		t.Fatal(err)
	}
	MustEqual(t, DueIDs(t, s, at, 100), []string{b1.ID, aOther.ID, n1.ID, n2.ID})
	// When a1 falls due, it goes before a2, which is due long since.
	MustEqual(t, DueIDs(t, s, at.Add(time.Minute), 100), []string{b1.ID, aOther.ID, n1.ID, n2.ID, a1.ID})

	// b1 delivered: b2 is next for call B. a1 dead: a2 is next for A.
	b1.Status, b1.Attempts, b1.LastStatus, b1.DeliveredAt = core.DeliveryDelivered, 1, 200, Ptr(at)
	a1.Status, a1.Attempts, a1.LastStatus, a1.LastError = core.DeliveryDead, 2, 410, "Gone"
	for _, d := range []core.WebhookDelivery{b1, a1} {
		if err := s.UpdateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	MustEqual(t, DueIDs(t, s, at, 100), []string{a2.ID, aOther.ID, n1.ID, n2.ID, b2.ID})

	// What DueDeliveries returns is the stored delivery, body included.
	due, err := s.DueDeliveries(ctx, at, 1)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, due, []core.WebhookDelivery{a2})
}

func testNextDueAt(t *testing.T, be Backend) {
	s := be.open(t)
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
	t0 := Now()
	call := NewID(t)
	first, second := DeliveryFixture(t, call, hookA, t0), DeliveryFixture(t, call, hookA, t0.Add(time.Second))
	AddDeliveries(t, s, first, second)
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
	solo := DeliveryFixture(t, "", hookA, t0.Add(time.Minute))
	AddDeliveries(t, s, solo)
	if at, ok := nextDue(); !ok || !at.Equal(solo.NextAttemptAt) {
		t.Fatalf("NextDueAt %v %v, want %v", at, ok, solo.NextAttemptAt)
	}
	for _, d := range []core.WebhookDelivery{first, second, solo} {
		d.Status, d.DeliveredAt = core.DeliveryDelivered, Ptr(Now())
		if err := s.UpdateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if at, ok := nextDue(); ok {
		t.Fatalf("NextDueAt with nothing pending: %v", at)
	}
}

func testUpdateDelivery(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	d := DeliveryFixture(t, NewID(t), hookA, Now())
	AddDeliveries(t, s, d)

	up := d
	up.Status, up.Attempts, up.LastStatus, up.LastError = core.DeliveryPending, 1, 500, "Internal Server Error"
	up.NextAttemptAt, up.UpdatedAt = d.CreatedAt.Add(1500*time.Millisecond), d.CreatedAt.Add(time.Second)
	if err := s.UpdateDelivery(ctx, up); err != nil {
		t.Fatal(err)
	}
	MustEqual(t, GetDelivery(t, s, d.ID), up)

	// Only the outcome changes: the URL, body, event and creation stay.
	done := up
	done.Status, done.Attempts, done.LastStatus, done.LastError = core.DeliveryDelivered, 2, 204, ""
	done.DeliveredAt, done.UpdatedAt = Ptr(up.NextAttemptAt), up.NextAttemptAt
	changed := done
	changed.URL, changed.Body, changed.EventType, changed.CallID = hookB, json.RawMessage(`{}`), "other", ""
	changed.AssistantID, changed.CreatedAt = "", time.Time{}
	if err := s.UpdateDelivery(ctx, changed); err != nil {
		t.Fatal(err)
	}
	MustEqual(t, GetDelivery(t, s, d.ID), done)

	// The last error and status are cleared when the outcome has none.
	var lastStatus, lastError sql.NullString
	if err := be.DB.QueryRowContext(ctx, "SELECT last_status, last_error FROM webhook_deliveries WHERE id = $1",
		d.ID).Scan(&lastStatus, &lastError); err != nil {
		t.Fatal(err)
	}
	if lastStatus.String != "204" || lastError.Valid {
		t.Errorf("last_status %v, last_error %v", lastStatus, lastError)
	}

	// A zero UpdatedAt is the store's Now.
	before := Now()
	done.UpdatedAt = time.Time{}
	if err := s.UpdateDelivery(ctx, done); err != nil {
		t.Fatal(err)
	}
	if got := GetDelivery(t, s, d.ID).UpdatedAt; got.Before(before) {
		t.Errorf("updated_at %v, before %v", got, before)
	}

	missing := DeliveryFixture(t, "", hookA, Now())
	MustCode(t, s.UpdateDelivery(ctx, missing), core.CodeNotFound, "id")
	bad := done
	bad.Status = "lost"
	MustCode(t, s.UpdateDelivery(ctx, bad), core.CodeInvalidRequest, "status")
	bad.Status, bad.Attempts = core.DeliveryPending, -1
	MustCode(t, s.UpdateDelivery(ctx, bad), core.CodeInvalidRequest, "attempts")
	_, err := s.GetDelivery(ctx, missing.ID)
	MustCode(t, err, core.CodeNotFound, "id")
}

// The dispatcher records a round's outcomes in one write.
func testUpdateDeliveries(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	a := DeliveryFixture(t, NewID(t), hookA, Now())
	b := DeliveryFixture(t, NewID(t), hookB, Now())
	AddDeliveries(t, s, a, b)

	done := a
	done.Status, done.Attempts, done.LastStatus = core.DeliveryDelivered, 1, 204
	done.DeliveredAt, done.UpdatedAt = Ptr(a.CreatedAt.Add(time.Second)), a.CreatedAt.Add(time.Second)
	retry := b
	retry.Status, retry.Attempts, retry.LastStatus, retry.LastError = core.DeliveryPending, 1, 503, "HTTP 503 Service Unavailable"
	retry.NextAttemptAt, retry.UpdatedAt = b.CreatedAt.Add(time.Minute), b.CreatedAt.Add(time.Second)
	gone := DeliveryFixture(t, "", hookA, Now()) // never stored: skipped
	if err := s.UpdateDeliveries(ctx, []core.WebhookDelivery{retry, gone, done}); err != nil {
		t.Fatal(err)
	}
	MustEqual(t, GetDelivery(t, s, a.ID), done)
	MustEqual(t, GetDelivery(t, s, b.ID), retry)
	_, err := s.GetDelivery(ctx, gone.ID)
	MustCode(t, err, core.CodeNotFound, "id")

	// One outcome that is not valid fails them all, before any write.
	again := done
	again.Attempts, again.LastStatus = 2, 200
	bad := retry
	bad.Status = "lost"
	MustCode(t, s.UpdateDeliveries(ctx, []core.WebhookDelivery{again, bad}), core.CodeInvalidRequest, "status")
	MustEqual(t, GetDelivery(t, s, a.ID), done)
	if err := s.UpdateDeliveries(ctx, nil); err != nil {
		t.Errorf("no outcomes: %v", err)
	}
}

func testListDeliveries(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	callA, callB := NewID(t), NewID(t)
	var all []core.WebhookDelivery // oldest first
	for i := range 7 {
		call := callA
		if i%2 == 1 {
			call = callB
		}
		if i == 6 {
			call = ""
		}
		all = append(all, DeliveryFixture(t, call, hookA, Now()))
	}
	AddDeliveries(t, s, all...)
	for _, i := range []int{0, 3} {
		all[i].Status, all[i].Attempts, all[i].DeliveredAt = core.DeliveryDelivered, 1, Ptr(Now())
		if err := s.UpdateDelivery(ctx, all[i]); err != nil {
			t.Fatal(err)
		}
		all[i].UpdatedAt = GetDelivery(t, s, all[i].ID).UpdatedAt
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
		{"unknown call", core.DeliveryFilter{CallID: NewID(t)}, listed(), 0},
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
		MustEqual(t, got, tc.want)
	}
	_, _, err := s.ListDeliveries(ctx, core.DeliveryFilter{Page: core.Page{Limit: core.MaxPageLimit + 1}})
	MustCode(t, err, core.CodeInvalidRequest, "limit")
}

func testDeliveriesSurviveReopen(t *testing.T, be Backend) {
	key := NewKey(t)
	s, err := be.Open(t, key)
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := DeliveryFixture(t, NewID(t), hookA, Now()), DeliveryFixture(t, "", hookB, Now())
	AddDeliveries(t, s, d1, d2)
	d2.Status, d2.Attempts, d2.LastStatus, d2.DeliveredAt = core.DeliveryDelivered, 1, 200, Ptr(Now())
	if err := s.UpdateDelivery(t.Context(), d2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = be.openWith(t, key)
	MustEqual(t, GetDelivery(t, s, d1.ID), d1)
	MustEqual(t, GetDelivery(t, s, d2.ID), d2)
	MustEqual(t, DueIDs(t, s, Now(), 10), []string{d1.ID})
}

// A deliveries' call record may go; the deliveries stay.
func testDeliveriesOutliveTheirCall(t *testing.T, be Backend) {
	s := be.open(t)
	c := BareCall(t, core.CallEnded)
	d := DeliveryFixture(t, c.ID, hookA, Now())
	if err := s.CreateCall(t.Context(), c, d); err != nil {
		t.Fatal(err)
	}
	if _, err := be.DB.ExecContext(t.Context(), "DELETE FROM calls WHERE id = $1", c.ID); err != nil {
		t.Fatal(err)
	}
	MustEqual(t, GetDelivery(t, s, d.ID), d)
}

// TestClaimDeliveries checks the dispatcher's claim: one write moves the
// next attempt of the pending deliveries named, skips the others, and a
// claimed head keeps its call's later deliveries waiting behind it.
func testClaimDeliveries(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	t0 := Now()
	call := NewID(t)
	head, behind := DeliveryFixture(t, call, hookA, t0), DeliveryFixture(t, call, hookA, t0)
	solo, done := DeliveryFixture(t, "", hookB, t0), DeliveryFixture(t, "", hookB, t0)
	AddDeliveries(t, s, head, behind, solo, done)
	done.Status, done.Attempts, done.DeliveredAt = core.DeliveryDelivered, 1, Ptr(t0)
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
		if d := GetDelivery(t, s, id); !d.NextAttemptAt.Equal(until) || !d.UpdatedAt.Equal(at) || d.Status != core.DeliveryPending || d.Attempts != 0 {
			t.Errorf("claimed delivery %+v", d)
		}
	}
	if d := GetDelivery(t, s, done.ID); d.Status != core.DeliveryDelivered || !d.NextAttemptAt.Equal(done.NextAttemptAt) {
		t.Errorf("a delivered delivery was claimed: %+v", d)
	}
	if ids := DueIDs(t, s, at, 10); len(ids) != 0 {
		t.Errorf("due while claimed: %v", ids)
	}
	if ids := DueIDs(t, s, until, 10); len(ids) != 2 {
		t.Errorf("due once the claims run out: %v, want the head and the solo", ids)
	}
	if claimed, err := s.ClaimDeliveries(ctx, nil, until, at); err != nil || len(claimed) != 0 {
		t.Errorf("claiming none: %v %v", claimed, err)
	}
}
