package core_test

import (
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

func TestTransferStatsInput(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	stats := core.NewStatistics(f.store)
	ctx := t.Context()
	now := time.Now().UTC()
	for _, tc := range []struct {
		q     core.StatsQuery
		param string
	}{
		{core.StatsQuery{GroupBy: "week"}, "group_by"},
		{core.StatsQuery{Since: now, Until: now.Add(-time.Hour)}, "since"},
		{core.StatsQuery{Since: now.AddDate(-6, 0, 0)}, "since"},
		{core.StatsQuery{Destination: "not a number"}, "destination"},
	} {
		if _, err := stats.TransferStats(ctx, tc.q); core.AsError(err).Param != tc.param {
			t.Errorf("%+v: %v", tc.q, err)
		}
	}
	r, err := stats.TransferStats(ctx, core.StatsQuery{Destination: "+31612345678", GroupBy: core.GroupByDay})
	if err != nil {
		t.Fatal(err)
	}
	if d := r.Until.Sub(r.Since); d != core.DefaultStatsWindow || r.Groups == nil || r.Totals.FailuresByStatus == nil || r.GroupBy != "day" {
		t.Errorf("defaults: %+v", r)
	}
	// The fixture's call has no transfer to the destination: it is not
	// one of that destination's calls.
	if r.Totals.Calls != 0 || len(r.Groups) != 0 {
		t.Errorf("totals: %+v groups: %+v", r.Totals, r.Groups)
	}
	r, err = stats.TransferStats(ctx, core.StatsQuery{GroupBy: core.GroupByAssistant})
	if err != nil || r.Totals.Calls != 1 || len(r.Groups) != 1 || r.Totals.TransferRate != 0 || r.Totals.ConnectTimeP50MS != nil {
		t.Errorf("one call, no transfer: %+v %v", r, err)
	}
}
