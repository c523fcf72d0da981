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
	aOther := DeliveryFixture(t, callA, hookB, t0.Add(3*time.Second)) // the same call, another receiver
	n1 := DeliveryFixture(t, "", hookB, t0.Add(4*time.Second))
	n2 := DeliveryFixture(t, "", hookB, t0.Add(5*time.Second))
	b2 := DeliveryFixture(t, callB, hookA, Now().Add(time.Hour)) // not due yet
	AddDeliveries(t, s, a1, b1, a2, aOther, n1, n2, b2)

	// A round with nothing to record claims the candidates, and returns
	// them as they were, bodies included.
	now := Now()
	until := now.Add(time.Minute)
	got, err := s.RecordAndClaim(ctx, core.DeliveryRound{Now: now, Until: until, Limit: 2,
		Candidates: []core.WebhookDelivery{a1, b1, n1}})
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, got, []core.WebhookDelivery{a1, b1})
	for _, d := range []core.WebhookDelivery{a1, b1} {
		if c := GetDelivery(t, s, d.ID); !c.NextAttemptAt.Equal(until) || !c.UpdatedAt.Equal(now) || c.Attempts != 0 {
			t.Errorf("claimed %+v", c)
		}
	}
	MustEqual(t, DueIDs(t, s, now, 10), []string{aOther.ID, n1.ID, n2.ID})

	// a1 delivered: its call's next to its URL is claimed in the same
	// write, before the candidates; the limit leaves n2 out.
	done := a1
	done.Status, done.Attempts, done.LastStatus = core.DeliveryDelivered, 1, 200
	done.DeliveredAt, done.NextAttemptAt, done.UpdatedAt = Ptr(now), now, now
	now2 := now.Add(time.Millisecond)
	until2 := now2.Add(time.Minute)
	got, err = s.RecordAndClaim(ctx, core.DeliveryRound{Outcomes: []core.WebhookDelivery{done}, Now: now2,
		Until: until2, Limit: 2, Candidates: []core.WebhookDelivery{n1, n2}})
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, ids(got), []string{a2.ID, n1.ID})
	MustEqual(t, got[0], a2)
	MustEqual(t, GetDelivery(t, s, a1.ID), done)
	if d := GetDelivery(t, s, a2.ID); !d.NextAttemptAt.Equal(until2) || !d.UpdatedAt.Equal(now2) || d.Attempts != 0 {
		t.Errorf("a2 not claimed: %+v", d)
	}
	MustEqual(t, DueIDs(t, s, now2, 10), []string{aOther.ID, n2.ID})

	// All or nothing: one outcome that is not valid fails the round;
	// nothing is recorded or claimed.
	claimedB1 := GetDelivery(t, s, b1.ID)
	retry := claimedB1
	retry.Attempts, retry.LastStatus, retry.LastError, retry.NextAttemptAt = 1, 503, "HTTP 503", now2
	bad := got[1]
	bad.Status = "lost"
	_, err = s.RecordAndClaim(ctx, core.DeliveryRound{Outcomes: []core.WebhookDelivery{retry, bad}, Now: now2,
		Until: until2, Limit: 10, Candidates: []core.WebhookDelivery{n2}})
	MustCode(t, err, core.CodeInvalidRequest, "status")
	MustEqual(t, GetDelivery(t, s, b1.ID), claimedB1)
	MustEqual(t, DueIDs(t, s, now2, 10), []string{aOther.ID, n2.ID})

	// An outcome to retry keeps its call's next waiting (b2 is not due
	// anyway); a candidate no longer pending is not claimed; a round with
	// no free slot records its outcomes and claims nothing; an outcome
	// of a delivery that is gone is skipped.
	gone := DeliveryFixture(t, "", hookA, now)
	got, err = s.RecordAndClaim(ctx, core.DeliveryRound{Outcomes: []core.WebhookDelivery{retry, gone}, Now: now2,
		Until: until2, Limit: 5, Candidates: []core.WebhookDelivery{done}})
	if err != nil || len(got) != 0 {
		t.Fatalf("claimed %v, %v; want none", ids(got), err)
	}
	MustEqual(t, GetDelivery(t, s, b1.ID), retry)
	got, err = s.RecordAndClaim(ctx, core.DeliveryRound{Outcomes: []core.WebhookDelivery{retry}, Now: now2,
		Until: until2, Candidates: []core.WebhookDelivery{n2}})
	if err != nil || len(got) != 0 {
		t.Fatalf("no free slot: claimed %v, %v", ids(got), err)
	}
	MustEqual(t, DueIDs(t, s, now2, 10), []string{aOther.ID, n2.ID, b1.ID})
	if got, err := s.RecordAndClaim(ctx, core.DeliveryRound{Now: now2, Until: until2, Limit: 3}); err != nil || len(got) != 0 {
		t.Errorf("an empty round: %v %v", ids(got), err)
	}
}
