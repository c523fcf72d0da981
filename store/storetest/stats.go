package storetest

import (
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// statsTransfer is a final transfer of callID created at start and ended
// after d.
func statsTransfer(t testing.TB, callID, dest, status string, sipStatus int, reason string, start time.Time, d time.Duration) core.Transfer {
	tr := core.Transfer{
		ID: NewID(t), CallID: callID, Destination: dest, DestinationType: core.DestinationNumber,
		ReferTo: "sip:" + dest + "@pbx.example.com", Status: status, SIPStatus: sipStatus, Reason: reason,
		Steps:     []core.TransferStep{{Status: core.TransferRequested, At: start}},
		CreatedAt: start, UpdatedAt: start.Add(d), EndedAt: Ptr(start.Add(d)),
	}
	return tr
}

func TransferStats(t *testing.T, s Store) {
	ctx := t.Context()
	day1 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	mk := func(assistant, number string, at time.Time) core.Call {
		c := core.Call{ID: NewID(t), Direction: core.DirectionInbound, Status: core.CallEnded,
			AssistantID: assistant, NumberID: number, CreatedAt: at, UpdatedAt: at}
		CreateCalls(t, s, c)
		return c
	}
	save := func(tr core.Transfer) {
		if err := s.SaveTransfer(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	// Assistant A, day 1: three calls; two completed transfers (1 s and
	// 3 s to connect), one busy.
	a1 := mk("A", "N1", day1)
	save(statsTransfer(t, a1.ID, "+31201111111", core.TransferCompleted, 200, "", day1, time.Second))
	a2 := mk("A", "N1", day1.Add(time.Hour))
	save(statsTransfer(t, a2.ID, "+31202222222", core.TransferFailed, 486, "busy", day1.Add(time.Hour), 2*time.Second))
	save(statsTransfer(t, a2.ID, "+31201111111", core.TransferCompleted, 200, "", day1.Add(time.Hour), 3*time.Second))
	mk("A", "N1", day1.Add(2*time.Hour))
	// Assistant B, day 2: one call with a rejected REFER and a refusal by
	// policy (no REFER: not an attempt).
	b1 := mk("B", "N2", day2)
	save(statsTransfer(t, b1.ID, "+31202222222", core.TransferFailed, 603, "declined", day2, time.Second))
	refused := statsTransfer(t, b1.ID, "+31203333333", core.TransferFailed, 0, "not allowed", day2, 0)
	refused.ReferTo = ""
	save(refused)
	// Outside the period.
	old := mk("A", "N1", day1.Add(-72*time.Hour))
	save(statsTransfer(t, old.ID, "+31201111111", core.TransferCompleted, 200, "", day1.Add(-72*time.Hour), time.Second))

	q := core.StatsQuery{Since: day1.Add(-time.Hour), Until: day2.Add(time.Hour), GroupBy: core.GroupByDay}
	r, err := s.TransferStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	tot := r.Totals
	if tot.Calls != 4 || tot.TransfersAttempted != 4 || tot.TransfersCompleted != 2 || tot.TransfersFailed != 2 {
		t.Fatalf("totals = %+v", tot)
	}
	if tot.TransferRate != 1 || tot.SuccessRate != 0.5 {
		t.Errorf("rates = %v, %v", tot.TransferRate, tot.SuccessRate)
	}
	if tot.ConnectTimeP50MS == nil || *tot.ConnectTimeP50MS != 1000 || *tot.ConnectTimeP95MS != 3000 {
		t.Errorf("percentiles = %v, %v", deref(tot.ConnectTimeP50MS), deref(tot.ConnectTimeP95MS))
	}
	if len(tot.FailuresByStatus) != 2 {
		t.Errorf("failures = %+v", tot.FailuresByStatus)
	}
	if len(r.Groups) != 2 || r.Groups[0].Key != "2026-11-23" || r.Groups[0].Calls != 3 || r.Groups[0].TransfersAttempted != 3 ||
		r.Groups[1].Key != "2026-11-24" || r.Groups[1].Calls != 1 || r.Groups[1].TransfersFailed != 1 || r.Groups[1].ConnectTimeP50MS != nil {
		t.Errorf("groups = %+v", r.Groups)
	}

	q.GroupBy = core.GroupByDestination
	r, err = s.TransferStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 2 || r.Groups[0].Key != "+31201111111" || r.Groups[0].Calls != 2 || r.Groups[0].TransfersCompleted != 2 ||
		r.Groups[1].Key != "+31202222222" || r.Groups[1].Calls != 2 || r.Groups[1].TransfersFailed != 2 || r.Groups[1].SuccessRate != 0 {
		t.Errorf("by destination = %+v", r.Groups)
	}

	q.GroupBy, q.AssistantID = core.GroupByAssistant, "B"
	r, err = s.TransferStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 1 || r.Groups[0].Key != "B" || r.Totals.Calls != 1 || r.Totals.TransfersAttempted != 1 ||
		len(r.Totals.FailuresByStatus) != 1 || r.Totals.FailuresByStatus[0].SIPStatus != 603 {
		t.Errorf("assistant B = %+v", r)
	}

	q = core.StatsQuery{Since: q.Since, Until: q.Until, Destination: "+31202222222", PhoneNumberID: "N1"}
	r, err = s.TransferStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if r.Totals.Calls != 1 || r.Totals.TransfersAttempted != 1 || r.Totals.TransfersFailed != 1 {
		t.Errorf("destination on N1 = %+v", r.Totals)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
