package sqlite

import (
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/storetest"
)

// walFrame is the size of one page's frame in the write-ahead log (the
// store's 4 KiB pages and the frame's header).
const walFrame = 4096 + 24

// TestTransferStepInFlightLeavesStatsIndexes: a step of a transfer in
// flight (accepted, trying, ringing) rewrites the transfer's row and no
// entry of the five statistics indexes, so its commit appends one page to
// the log; its final step rewrites them. The statistics still count it.
func TestTransferStepInFlightLeavesStatsIndexes(t *testing.T) {
	s, path := openTemp(t)
	ctx := t.Context()
	// No checkpoints: the log's growth is what each commit appended.
	if err := s.ckpt.close(); err != nil {
		t.Fatal(err)
	}
	c := storetest.CallFixture(t, core.CallInProgress)
	c.EndedAt, c.EndReason, c.DurationSeconds = nil, "", 0
	if err := s.CreateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	tr := storetest.TransferFixture(t, c.ID, core.TransferRequested)
	tr.Steps, tr.EndedAt = nil, nil
	pages := func(status string) int64 {
		t.Helper()
		before := walSize(t, path)
		tr.Status = status
		tr.SIPStatus = map[string]int{core.TransferTrying: 100, core.TransferRinging: 180, core.TransferCompleted: 200}[status]
		tr.UpdatedAt = tr.UpdatedAt.Add(time.Second)
		tr.Steps = append(tr.Steps, core.TransferStep{Status: status, SIPStatus: tr.SIPStatus, At: tr.UpdatedAt})
		if tr.Final() {
			tr.EndedAt = storetest.Ptr(tr.UpdatedAt)
		}
		if err := s.SaveTransfer(ctx, tr); err != nil {
			t.Fatal(err)
		}
		return (walSize(t, path) - before) / walFrame
	}
	if n := pages(core.TransferRequested); n < 6 {
		t.Errorf("requested appended %d pages, want the row and the five statistics indexes' entries", n)
	}
	for _, st := range []string{core.TransferAccepted, core.TransferTrying, core.TransferRinging} {
		if n := pages(st); n != 1 {
			t.Errorf("%s appended %d pages, want 1 (the transfer's row)", st, n)
		}
		stats, err := s.TransferStats(ctx, core.StatsQuery{Since: c.CreatedAt.Add(-time.Hour), Until: c.CreatedAt.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if tot := stats.Totals; tot.TransfersAttempted != 1 || tot.TransfersCompleted != 0 || tot.TransfersFailed != 0 {
			t.Errorf("%s: totals %+v, want one attempted, none completed or failed", st, tot)
		}
	}
	if n := pages(core.TransferCompleted); n < 6 {
		t.Errorf("completed appended %d pages, want the row and the five statistics indexes' entries", n)
	}
	stats, err := s.TransferStats(ctx, core.StatsQuery{Since: c.CreatedAt.Add(-time.Hour), Until: c.CreatedAt.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if tot := stats.Totals; tot.TransfersAttempted != 1 || tot.TransfersCompleted != 1 || tot.ConnectTimeP50MS == nil {
		t.Errorf("completed: totals %+v, want one attempted and completed, with its connect time", tot)
	}
}

// TestTransferStepInFlightFollowsItsCall: a step in flight whose call's
// assistant changed since the transfer was stored, or whose destination
// changed, is written in full, so the statistics find it where a full
// write would have put it.
func TestTransferStepInFlightFollowsItsCall(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	c := storetest.CallFixture(t, core.CallInProgress)
	c.EndedAt, c.EndReason, c.DurationSeconds = nil, "", 0
	c.AssistantID = "before"
	if err := s.CreateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	tr := storetest.TransferFixture(t, c.ID, core.TransferRequested)
	tr.Steps, tr.EndedAt = nil, nil
	if err := s.SaveTransfer(ctx, tr); err != nil {
		t.Fatal(err)
	}
	c.AssistantID = "after"
	if err := s.UpdateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	since, until := c.CreatedAt.Add(-time.Hour), c.CreatedAt.Add(time.Hour)
	check := func(q core.StatsQuery) {
		t.Helper()
		stats, err := s.TransferStats(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if tot := stats.Totals; tot.Calls != 1 || tot.TransfersAttempted != 1 {
			t.Errorf("totals of %+v: %+v, want the call and its transfer", q, tot)
		}
	}
	tr.Status = core.TransferAccepted
	if err := s.SaveTransfer(ctx, tr); err != nil {
		t.Fatal(err)
	}
	check(core.StatsQuery{Since: since, Until: until, AssistantID: "after"})
	tr.Status, tr.Destination = core.TransferRinging, tr.Destination+"9"
	if err := s.SaveTransfer(ctx, tr); err != nil {
		t.Fatal(err)
	}
	check(core.StatsQuery{Since: since, Until: until, Destination: tr.Destination})
}

// TestTransferStatsQueriesCoveringIndexes: the statistics' queries over
// transfers read one of the statistics indexes alone, whatever the
// filter, never the table.
func TestTransferStatsQueriesCoveringIndexes(t *testing.T) {
	s, _ := openTemp(t)
	assistant := "A"
	for name, f := range map[string]statsFilter{
		"period":      {},
		"assistant":   {assistant: &assistant},
		"number":      {number: "N"},
		"destination": {destination: "+31201111111"},
		"all":         {assistant: &assistant, number: "N", destination: "+31201111111"},
	} {
		f.since, f.until = "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"
		tw, args := f.transfers()
		for _, q := range []string{countTransfersQuery + tw, countFailuresQuery + tw + countFailuresGroup} {
			rows, err := s.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
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
			if len(plan) == 0 || !strings.HasPrefix(plan[0], "SEARCH transfers USING COVERING INDEX transfers_stats") {
				t.Errorf("%s: %s: not on a statistics index alone: %s", name, q, strings.Join(plan, "; "))
			}
		}
	}
}
