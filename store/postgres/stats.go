package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TransferStats counts the calls created in [q.Since, q.Until) that match
// q's filters, and their transfers, in one read snapshot: the totals, and
// per group when q.GroupBy is set. Percentiles are nearest-rank
// (percentile_disc), as the SQLite store's.
func (s *Store) TransferStats(ctx context.Context, q core.StatsQuery) (core.StatsReport, error) {
	var r core.StatsReport
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		f := statsFilter{since: dbTime(q.Since), until: dbTime(q.Until), number: q.PhoneNumberID, destination: q.Destination}
		if q.AssistantID != "" {
			f.assistant = &q.AssistantID
		}
		var err error
		if r.Totals, err = statsFor(ctx, tx, f); err != nil {
			return err
		}
		if q.GroupBy == "" {
			return nil
		}
		return eachGroup(ctx, tx, q, f, func(key string, g statsFilter) error {
			st, err := statsFor(ctx, tx, g)
			if err != nil {
				return err
			}
			if st.Calls > 0 || st.TransfersAttempted > 0 {
				r.Groups = append(r.Groups, core.StatsGroup{Key: key, Stats: st})
			}
			return nil
		})
	})
	if err != nil {
		return core.StatsReport{}, fmt.Errorf("transfer stats: %w", err)
	}
	return r, nil
}

// statsFilter selects calls and their transfers.
type statsFilter struct {
	since, until time.Time
	// assistant is nil for any assistant; "" selects calls without one.
	assistant   *string
	number      string
	destination string
}

// calls is the WHERE clause and its arguments over calls.
func (f statsFilter) calls() (string, []any) {
	return f.where("created_at", "assistant_id", "number_id", "")
}

// transfers is the WHERE clause and its arguments over the transfers
// that went out (attempted).
func (f statsFilter) transfers() (string, []any) {
	w, args := f.where("call_created_at", "call_assistant_id", "call_number_id", "destination")
	return w + " AND attempted", args
}

func (f statsFilter) where(created, assistant, number, destination string) (string, []any) {
	args := []any{f.since, f.until}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	w := []string{created + " >= $1", created + " < $2"}
	switch {
	case f.assistant == nil:
	case *f.assistant == "":
		w = append(w, assistant+" IS NULL")
	default:
		w = append(w, assistant+" = "+arg(*f.assistant))
	}
	if f.number != "" {
		w = append(w, number+" = "+arg(f.number))
	}
	if f.destination != "" && destination != "" {
		w = append(w, destination+" = "+arg(f.destination))
	}
	return strings.Join(w, " AND "), args
}

// statsFor computes the figures of the calls and transfers f selects.
func statsFor(ctx context.Context, tx *sql.Tx, f statsFilter) (core.Stats, error) {
	var st core.Stats
	tw, targs := f.transfers()
	// Calls: with a destination, those with an attempted transfer to it;
	// else every call.
	callsQuery, callsArgs := "", []any(nil)
	if f.destination != "" {
		callsQuery, callsArgs = "SELECT count(DISTINCT call_id) FROM transfers WHERE "+tw, targs
	} else {
		cw, cargs := f.calls()
		callsQuery, callsArgs = "SELECT count(*) FROM calls WHERE "+cw, cargs
	}
	if err := tx.QueryRowContext(ctx, callsQuery, callsArgs...).Scan(&st.Calls); err != nil {
		return st, fmt.Errorf("count calls: %w", err)
	}
	const (
		completed = "status = '" + core.TransferCompleted + "'"
		failed    = "status IN ('" + core.TransferFailed + "', '" + core.TransferCanceled + "')"
		timed     = completed + " AND connect_ms IS NOT NULL"
	)
	var p50, p95 sql.NullFloat64
	err := tx.QueryRowContext(ctx, "SELECT count(*), count(*) FILTER (WHERE "+completed+"), "+
		"count(*) FILTER (WHERE "+failed+"), "+
		"percentile_disc(0.5) WITHIN GROUP (ORDER BY connect_ms) FILTER (WHERE "+timed+"), "+
		"percentile_disc(0.95) WITHIN GROUP (ORDER BY connect_ms) FILTER (WHERE "+timed+") "+
		"FROM transfers WHERE "+tw, targs...).Scan(&st.TransfersAttempted, &st.TransfersCompleted, &st.TransfersFailed, &p50, &p95)
	if err != nil {
		return st, fmt.Errorf("count transfers: %w", err)
	}
	if p50.Valid {
		st.ConnectTimeP50MS, st.ConnectTimeP95MS = &p50.Float64, &p95.Float64
	}
	if st.TransfersFailed > 0 {
		err := eachRow(ctx, tx, "SELECT coalesce(sip_status, 0), coalesce(reason, ''), count(*) FROM transfers WHERE "+tw+
			" AND "+failed+" GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2", targs,
			func(rows *sql.Rows) error {
				var fc core.FailureCount
				if err := rows.Scan(&fc.SIPStatus, &fc.Reason, &fc.Count); err != nil {
					return err
				}
				st.FailuresByStatus = append(st.FailuresByStatus, fc)
				return nil
			})
		if err != nil {
			return st, fmt.Errorf("count failures: %w", err)
		}
	}
	st.Finish()
	return st, nil
}

// eachGroup calls fn with each group's key and filter, in key order: the
// UTC days of the period, or the assistants or destinations found in the
// store (whether the period has any of theirs is fn's to find out).
func eachGroup(ctx context.Context, tx *sql.Tx, q core.StatsQuery, f statsFilter, fn func(key string, g statsFilter) error) error {
	switch q.GroupBy {
	case core.GroupByDay:
		for day := q.Since.UTC().Truncate(24 * time.Hour); day.Before(q.Until); day = day.Add(24 * time.Hour) {
			g := f
			g.since = dbTime(later(day, q.Since))
			g.until = dbTime(earlier(day.Add(24*time.Hour), q.Until))
			if err := fn(day.Format(time.DateOnly), g); err != nil {
				return err
			}
		}
		return nil
	case core.GroupByAssistant:
		if f.assistant != nil {
			return fn(*f.assistant, f)
		}
		g := f
		none := ""
		g.assistant = &none
		if err := fn("", g); err != nil {
			return err
		}
		return eachDistinct(ctx, tx, "calls", "assistant_id", func(key string) error {
			g := f
			g.assistant = &key
			return fn(key, g)
		})
	case core.GroupByDestination:
		if f.destination != "" {
			return fn(f.destination, f)
		}
		return eachDistinct(ctx, tx, "transfers", "destination", func(key string) error {
			g := f
			g.destination = key
			return fn(key, g)
		})
	}
	return fmt.Errorf("unknown grouping %q", q.GroupBy)
}

// eachDistinct calls fn with each distinct non-null value of an indexed
// column, in order (C collation, as SQLite's), seeking the index from one
// value to the next (a recursive query): the cost is the number of values,
// not of rows. table and column are constants of this file, never input.
func eachDistinct(ctx context.Context, tx *sql.Tx, table, column string, fn func(string) error) error {
	var keys []string
	query := "WITH RECURSIVE k(v) AS (SELECT (SELECT min(" + column + " COLLATE \"C\") FROM " + table + ") " +
		"UNION ALL SELECT (SELECT min(" + column + " COLLATE \"C\") FROM " + table + " WHERE " + column +
		" COLLATE \"C\" > k.v) FROM k WHERE k.v IS NOT NULL) SELECT v FROM k WHERE v IS NOT NULL"
	err := eachRow(ctx, tx, query, nil, func(rows *sql.Rows) error {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %s.%s: %w", table, column, err)
	}
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
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
