package storetest

import (
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// ids are the deliveries' ids, in order.
func ids(ds []core.WebhookDelivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func testRecordAndClaim(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	t0 := Now().Add(-time.Minute)
	callA, callB := NewID(t), NewID(t)
	a1 := DeliveryFixture(t, callA, hookA, t0)
	b1 := DeliveryFixture(t, callB, hookA, t0.Add(time.Second))
	a2 := DeliveryFixture(t, callA, hookA, t0.Add(2*time.Second))
	n1 := DeliveryFixture(t, "", hookB, t0.Add(3*time.Second))
	n2 := DeliveryFixture(t, "", hookB, t0.Add(4*time.Second))
	later := DeliveryFixture(t, "", hookB, Now().Add(time.Hour))
	AddDeliveries(t, s, a1, b1, a2, n1, n2, later)

	// A round with nothing to record claims the first due heads, and
	// returns them as claimed, bodies included.
	now := Now()
	until := now.Add(time.Minute)
	got, err := s.RecordAndClaim(ctx, core.DeliveryRound{Now: now, Until: until, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantA1, wantB1 := a1, b1
	wantA1.NextAttemptAt, wantA1.UpdatedAt = until, now
	wantB1.NextAttemptAt, wantB1.UpdatedAt = until, now
	MustEqual(t, got, []core.WebhookDelivery{wantA1, wantB1})
	MustEqual(t, GetDelivery(t, s, a1.ID), wantA1)
	MustEqual(t, DueIDs(t, s, now, 10), []string{n1.ID, n2.ID})

	// a1 delivered: its call's next is claimed in the same write, b1
	// (claimed, in flight) is not, nor n2 (skipped), nor what is not due.
	done := wantA1
	done.Status, done.Attempts, done.LastStatus = core.DeliveryDelivered, 1, 200
	done.DeliveredAt, done.NextAttemptAt, done.UpdatedAt = Ptr(now), now, now
	now2 := now.Add(time.Millisecond)
	until2 := now2.Add(time.Minute)
	got, err = s.RecordAndClaim(ctx, core.DeliveryRound{Outcomes: []core.WebhookDelivery{done}, Now: now2,
		Until: until2, Limit: 10, Skip: []string{n2.ID}})
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, ids(got), []string{a2.ID, n1.ID})
	MustEqual(t, GetDelivery(t, s, a1.ID), done)
	if d := GetDelivery(t, s, a2.ID); !d.NextAttemptAt.Equal(until2) || !d.UpdatedAt.Equal(now2) || d.Attempts != 0 {
		t.Errorf("a2 not claimed: %+v", d)
	}
	if d := GetDelivery(t, s, n2.ID); !d.NextAttemptAt.Equal(n2.NextAttemptAt) {
		t.Errorf("skipped n2 was claimed: %+v", d)
	}

	// All or nothing: one outcome that is not valid fails the round;
	// nothing is recorded or claimed.
	retry := wantB1
	retry.Attempts, retry.LastStatus, retry.LastError, retry.NextAttemptAt = 1, 503, "HTTP 503", now2
	bad := got[1]
	bad.Status = "lost"
	_, err = s.RecordAndClaim(ctx, core.DeliveryRound{Outcomes: []core.WebhookDelivery{retry, bad}, Now: now2,
		Until: until2, Limit: 10})
	MustCode(t, err, core.CodeInvalidRequest, "status")
	MustEqual(t, GetDelivery(t, s, b1.ID), wantB1)
	MustEqual(t, DueIDs(t, s, now2, 10), []string{n2.ID})

	// A round with no free slot records its outcomes and claims nothing;
	// a delivery that is gone is skipped.
	gone := DeliveryFixture(t, "", hookA, now)
	got, err = s.RecordAndClaim(ctx, core.DeliveryRound{Outcomes: []core.WebhookDelivery{retry, gone}, Now: now2,
		Until: until2})
	if err != nil || len(got) != 0 {
		t.Fatalf("no free slot: claimed %v, %v", ids(got), err)
	}
	MustEqual(t, GetDelivery(t, s, b1.ID), retry)
	MustEqual(t, DueIDs(t, s, now2, 10), []string{n2.ID, b1.ID}) // n2 fell due first
	if got, err := s.RecordAndClaim(ctx, core.DeliveryRound{Now: now2, Until: until2}); err != nil || len(got) != 0 {
		t.Errorf("an empty round: %v %v", ids(got), err)
	}
}
