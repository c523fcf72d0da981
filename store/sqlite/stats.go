package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

var _ core.StatsStore = (*Store)(nil)

// smallHistogram is the most completed transfers whose connect-time
// percentiles are read from a histogram SQLite sorts; above it they are
// read by walking an index in connect-time order, which costs no sort.
const smallHistogram = 20000

// TransferStats counts the calls created in [q.Since, q.Until) that match
// q's filters, and their transfers, in one read snapshot: the totals, and
// per group when q.GroupBy is set.
//
// Every figure is a plain aggregate over one covering index of migration
// 0013 (GROUP BY would sort every row: several times slower on a million
// calls). Groups are found by seeking the index from one key to the next
// (days are walked), and each is counted with the same aggregates, its key
// as one more filter. Percentiles are nearest-rank. The indexes hold a
// transfer's status, SIP status and reason once it is final (final_*,
// NULL while in flight), so that its steps in flight do not rewrite
// them: a transfer in flight counts as attempted and nothing else, as it
// did when the live status was read.
func (s *Store) TransferStats(ctx context.Context, q core.StatsQuery) (core.StatsReport, error) {
	var r core.StatsReport
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		f := statsFilter{since: sqlrows.FormatTime(q.Since), until: sqlrows.FormatTime(q.Until), number: q.PhoneNumberID, destination: q.Destination}
		if q.AssistantID != "" {
			f.assistant = &q.AssistantID
		}
		p := percentiler{tx: tx, histMax: cmp.Or(s.histogramMax, smallHistogram)}
		var err error
		if r.Totals, err = statsFor(ctx, tx, f, &p); err != nil {
			return err
		}
		if q.GroupBy == "" {
			return nil
		}
		return eachGroup(ctx, tx, q, f, func(key string, g statsFilter) error {
			st, err := statsFor(ctx, tx, g, &p)
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
	since, until string
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
	return w + " AND attempted = 1", args
}

func (f statsFilter) where(created, assistant, number, destination string) (string, []any) {
	w := []string{created + " >= ?", created + " < ?"}
	args := []any{f.since, f.until}
	switch {
	case f.assistant == nil:
	case *f.assistant == "":
		w = append(w, assistant+" IS NULL")
	default:
		w = append(w, assistant+" = ?")
		args = append(args, *f.assistant)
	}
	if f.number != "" {
		w = append(w, number+" = ?")
		args = append(args, f.number)
	}
	if f.destination != "" && destination != "" {
		w = append(w, destination+" = ?")
		args = append(args, f.destination)
	}
	return strings.Join(w, " AND "), args
}

// The queries of statsFor, completed by the transfers' WHERE clause.
const (
	countTransfersQuery = "SELECT count(*), " +
		"coalesce(sum(final_status = '" + core.TransferCompleted + "'), 0), " +
		"coalesce(sum(final_status IN ('" + core.TransferFailed + "', '" + core.TransferCanceled + "')), 0), " +
		"coalesce(sum(final_status = '" + core.TransferCompleted + "' AND connect_ms IS NOT NULL), 0) " +
		"FROM transfers WHERE "
	countFailuresQuery = "SELECT coalesce(final_sip_status, 0), coalesce(final_reason, ''), count(*) FROM transfers WHERE "
	countFailuresGroup = " AND final_status IN ('" + core.TransferFailed + "', '" + core.TransferCanceled + "') " +
		"GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
)

// statsFor computes the figures of the calls and transfers f selects.
func statsFor(ctx context.Context, tx *sql.Tx, f statsFilter, p *percentiler) (core.Stats, error) {
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
	var timed int
	err := tx.QueryRowContext(ctx, countTransfersQuery+tw, targs...).Scan(&st.TransfersAttempted, &st.TransfersCompleted, &st.TransfersFailed, &timed)
	if err != nil {
		return st, fmt.Errorf("count transfers: %w", err)
	}
	if st.TransfersFailed > 0 {
		err := eachRow(ctx, tx, countFailuresQuery+tw+countFailuresGroup, targs,
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
	if timed > 0 {
		var err error
		if st.ConnectTimeP50MS, st.ConnectTimeP95MS, err = p.connectTimes(ctx, tw, targs, timed); err != nil {
			return st, fmt.Errorf("connect time percentiles: %w", err)
		}
	}
	st.Finish()
	return st, nil
}

// percentiler reads connect-time percentiles in one read transaction.
type percentiler struct {
	tx      *sql.Tx
	histMax int
	// timedAll is how many transfers have a connect time in the whole
	// store, once counted is set.
	timedAll int
	counted  bool
}

// connectTimes returns the nearest-rank median and 95th percentile of the
// connect times of the n timed completed transfers tw selects.
//
// Up to histMax of them, or when they are less than half of all timed
// transfers, SQLite sorts them into a histogram (cost n log n). Beyond,
// transfers_connect is walked in connect-time order to the ranks: no
// sort, but a walk through every timed transfer before them, whatever its
// period, so it pays only when n is most of them (the totals of a period
// that covers most of the store).
func (p *percentiler) connectTimes(ctx context.Context, tw string, args []any, n int) (*float64, *float64, error) {
	tx := p.tx
	r50, r95 := (n*50+99)/100, (n*95+99)/100
	// connect_ms is only set on completed transfers. The unary + keeps
	// the histogram's plan on the period's index, away from
	// transfers_connect, which the walk names.
	timed := " AND +connect_ms IS NOT NULL"
	walk := false
	if n > p.histMax {
		if !p.counted {
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM transfers WHERE connect_ms IS NOT NULL").Scan(&p.timedAll); err != nil {
				return nil, nil, err
			}
			p.counted = true
		}
		walk = n*2 >= p.timedAll
	}
	if walk {
		at := func(rank int) (*float64, error) {
			var v float64
			err := tx.QueryRowContext(ctx, "SELECT connect_ms FROM transfers INDEXED BY transfers_connect WHERE connect_ms IS NOT NULL AND "+tw+
				" ORDER BY connect_ms LIMIT 1 OFFSET ?", append(append([]any(nil), args...), rank-1)...).Scan(&v)
			return &v, err
		}
		p50, err := at(r50)
		if err != nil {
			return nil, nil, err
		}
		p95, err := at(r95)
		return p50, p95, err
	}
	var p50, p95 *float64
	seen := 0
	err := eachRow(ctx, tx, "SELECT connect_ms, count(*) FROM transfers WHERE "+tw+timed+" GROUP BY 1 ORDER BY 1", args,
		func(rows *sql.Rows) error {
			var v float64
			var c int
			if err := rows.Scan(&v, &c); err != nil {
				return err
			}
			seen += c
			if p50 == nil && seen >= r50 {
				p50 = &v
			}
			if p95 == nil && seen >= r95 {
				p95 = &v
			}
			return nil
		})
	return p50, p95, err
}

// eachGroup calls fn with each group's key and filter, in key order: the
// UTC days of the period, or the assistants or destinations found in the
// store (whether the period has any of theirs is fn's to find out).
func eachGroup(ctx context.Context, tx *sql.Tx, q core.StatsQuery, f statsFilter, fn func(key string, g statsFilter) error) error {
	switch q.GroupBy {
	case core.GroupByDay:
		for day := q.Since.UTC().Truncate(24 * time.Hour); day.Before(q.Until); day = day.Add(24 * time.Hour) {
			g := f
			g.since = sqlrows.FormatTime(later(day, q.Since))
			g.until = sqlrows.FormatTime(earlier(day.Add(24*time.Hour), q.Until))
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
// column, in order, seeking the index from one value to the next (a
// recursive query): the cost is the number of values, not of rows.
// table and column are constants of this file, never input.
func eachDistinct(ctx context.Context, tx *sql.Tx, table, column string, fn func(string) error) error {
	var keys []string
	query := "WITH RECURSIVE k(v) AS (SELECT (SELECT min(" + column + ") FROM " + table + ") " +
		"UNION ALL SELECT (SELECT min(" + column + ") FROM " + table + " WHERE " + column + " > k.v) FROM k WHERE k.v IS NOT NULL) " +
		"SELECT v FROM k WHERE v IS NOT NULL"
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
