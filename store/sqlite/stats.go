package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/voicedock/voicedock/core"
)

var _ core.StatsStore = (*Store)(nil)

// TransferStats counts the calls created in [q.Since, q.Until) that match
// q's filters, and their transfers, in one read snapshot: the totals, and
// per group when q.GroupBy is set. The covering indexes of migration 0007
// serve every query; percentiles are nearest-rank, read from a histogram
// of whole milliseconds that SQLite counts, so no list of durations
// leaves it.
func (s *Store) TransferStats(ctx context.Context, q core.StatsQuery) (core.StatsReport, error) {
	var r core.StatsReport
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		totals, err := statsBy(ctx, tx, q, "")
		if err != nil {
			return err
		}
		r.Totals = totals[""].Stats
		if q.GroupBy == "" {
			return nil
		}
		groups, err := statsBy(ctx, tx, q, q.GroupBy)
		if err != nil {
			return err
		}
		for _, g := range groups {
			r.Groups = append(r.Groups, *g)
		}
		sort.Slice(r.Groups, func(i, j int) bool { return r.Groups[i].Key < r.Groups[j].Key })
		return nil
	})
	if err != nil {
		return core.StatsReport{}, fmt.Errorf("transfer stats: %w", err)
	}
	return r, nil
}

// statsBy computes the figures grouped by groupBy ("" for one group, the
// totals, under the key ""). Calls are counted from calls; everything
// about transfers from transfers alone, by the copy of the call's time,
// assistant and number each carries.
func statsBy(ctx context.Context, tx *sql.Tx, q core.StatsQuery, groupBy string) (map[string]*core.StatsGroup, error) {
	callKey, key := "''", "''"
	switch groupBy {
	case core.GroupByAssistant:
		callKey, key = "coalesce(assistant_id, '')", "coalesce(t.call_assistant_id, '')"
	case core.GroupByDay:
		callKey, key = "substr(created_at, 1, 10)", "substr(t.call_created_at, 1, 10)"
	case core.GroupByDestination:
		key = "t.destination"
	}
	callWhere := []string{"created_at >= ?", "created_at < ?"}
	where := []string{"t.call_created_at >= ?", "t.call_created_at < ?"}
	args := []any{formatTime(q.Since), formatTime(q.Until)}
	if q.AssistantID != "" {
		callWhere = append(callWhere, "assistant_id = ?")
		where = append(where, "t.call_assistant_id = ?")
		args = append(args, q.AssistantID)
	}
	if q.PhoneNumberID != "" {
		callWhere = append(callWhere, "number_id = ?")
		where = append(where, "t.call_number_id = ?")
		args = append(args, q.PhoneNumberID)
	}
	callArgs := args
	if q.Destination != "" {
		where = append(where, "t.destination = ?")
		args = append(args, q.Destination)
	}
	from := " FROM transfers t WHERE " + strings.Join(where, " AND ") + " AND t.attempted = 1"

	groups := map[string]*core.StatsGroup{}
	get := func(k string) *core.StatsGroup {
		g := groups[k]
		if g == nil {
			g = &core.StatsGroup{Key: k}
			groups[k] = g
		}
		return g
	}
	if groupBy == "" {
		get("")
	}

	// Calls: with a destination in play (filter or group), those with an
	// attempted transfer to it; else every call in the period.
	callsQuery := "SELECT " + callKey + ", count(*) FROM calls WHERE " + strings.Join(callWhere, " AND ") + " GROUP BY 1"
	if q.Destination != "" || groupBy == core.GroupByDestination {
		callsQuery, callArgs = "SELECT "+key+", count(DISTINCT t.call_id)"+from+" GROUP BY 1", args
	}
	if err := eachRow(ctx, tx, callsQuery, callArgs, func(rows *sql.Rows) error {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		get(k).Calls = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count calls: %w", err)
	}

	// One pass over the index: the counts by status, and how many
	// completed in each whole millisecond, from which the percentiles
	// are read (connect_ms is NULL but for completed transfers).
	type hist struct {
		ms []float64
		n  []int
	}
	hists := map[string]*hist{}
	counts := "SELECT " + key + ", t.status, t.connect_ms, count(*)" + from + " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
	if err := eachRow(ctx, tx, counts, args, func(rows *sql.Rows) error {
		var k, status string
		var ms sql.NullFloat64
		var n int
		if err := rows.Scan(&k, &status, &ms, &n); err != nil {
			return err
		}
		g := get(k)
		g.TransfersAttempted += n
		switch status {
		case core.TransferCompleted:
			g.TransfersCompleted += n
			if ms.Valid {
				h := hists[k]
				if h == nil {
					h = &hist{}
					hists[k] = h
				}
				h.ms, h.n = append(h.ms, ms.Float64), append(h.n, n)
			}
		case core.TransferFailed, core.TransferCanceled:
			g.TransfersFailed += n
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count transfers: %w", err)
	}
	for k, h := range hists {
		g := get(k)
		g.ConnectTimeP50MS, g.ConnectTimeP95MS = percentile(h.ms, h.n, 50), percentile(h.ms, h.n, 95)
	}

	failures := "SELECT " + key + ", coalesce(t.sip_status, 0), coalesce(t.reason, ''), count(*)" + from +
		" AND t.status IN ('" + core.TransferFailed + "', '" + core.TransferCanceled + "')" +
		" GROUP BY 1, 2, 3 ORDER BY 1, 4 DESC, 2, 3"
	if err := eachRow(ctx, tx, failures, args, func(rows *sql.Rows) error {
		var k string
		var f core.FailureCount
		if err := rows.Scan(&k, &f.SIPStatus, &f.Reason, &f.Count); err != nil {
			return err
		}
		g := get(k)
		g.FailuresByStatus = append(g.FailuresByStatus, f)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count failures: %w", err)
	}
	for _, g := range groups {
		g.Finish()
	}
	return groups, nil
}

// percentile is the nearest-rank p-th percentile of a sorted histogram:
// the value at rank ceil(p*n/100) of the n values; nil when empty.
func percentile(values []float64, counts []int, p int) *float64 {
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return nil
	}
	rank := (total*p + 99) / 100
	seen := 0
	for i, n := range counts {
		seen += n
		if seen >= rank {
			v := values[i]
			return &v
		}
	}
	return nil
}

func eachRow(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
