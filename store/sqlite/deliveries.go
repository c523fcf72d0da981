package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unsafe"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

var _ core.DeliveryStore = (*Store)(nil)

// deliveryColumns are the columns of a delivery without its body;
// withBody adds it, last.
const (
	deliveryColumns = "id, call_id, assistant_id, url, event_type, status, attempts, next_attempt_at, " +
		"last_status, last_error, created_at, updated_at, delivered_at"
	withBody = ", body"
)

const (
	// pendingStatus is core.DeliveryPending as an SQL literal: the
	// partial index of pending deliveries serves only a query that names
	// the status as its definition does.
	pendingStatus = "'" + core.DeliveryPending + "'"

	// isHead is the condition that delivery d (the alias) is the oldest
	// pending delivery of its call to its URL, so the next one that may
	// be sent: a call's events reach each receiver in the order they
	// happened, and one receiver that is down holds up nobody else. A
	// delivery without a call is its own head. The partial index of
	// pending deliveries on (call_id, url, id) serves the probe.
	isHead = `(d.call_id IS NULL OR NOT EXISTS (
		SELECT 1 FROM webhook_deliveries AS e
		WHERE e.call_id = d.call_id AND e.url = d.url AND e.id < d.id AND e.status = ` + pendingStatus + `))`

	// dueQuery selects the due heads, first due first; the partial index
	// of pending deliveries on (next_attempt_at, id) serves the order.
	// INDEXED BY: without statistics the planner preferred the index on
	// (status, id), which holds the delivered rows too, and a sort.
	//
	// The limit is "?+0", not "?": SQLite (3.54) plans a bare "LIMIT ?"
	// with its bound value, so every round whose limit differed from the
	// last one's parsed and planned the statement again (7% of the
	// server's CPU under load). The order comes from the index either
	// way; the value has nothing to change in the plan.
	dueQuery = "SELECT " + deliveryColumns + withBody + " FROM webhook_deliveries AS d INDEXED BY webhook_deliveries_due" +
		" WHERE d.status = " + pendingStatus + " AND d.next_attempt_at <= ? AND " + isHead +
		" ORDER BY d.next_attempt_at, d.id LIMIT ?+0"

	// nextDueQuery selects when the first head falls due.
	nextDueQuery = "SELECT d.next_attempt_at FROM webhook_deliveries AS d INDEXED BY webhook_deliveries_due" +
		" WHERE d.status = " + pendingStatus + " AND " + isHead + " ORDER BY d.next_attempt_at, d.id LIMIT 1"
)

// insertDeliveries adds new deliveries to the outbox in tx, the
// transaction of the change they announce. A new delivery starts pending,
// with no attempt made; a zero CreatedAt is now, a zero NextAttemptAt or
// UpdatedAt is CreatedAt. A body that is not JSON fails the whole change.
func (s *Store) insertDeliveries(ctx context.Context, tx *sql.Tx, out []core.WebhookDelivery) error {
	if len(out) == 0 {
		return nil
	}
	stmt, err := s.writeStmts.in(ctx, tx, insertDeliverySQL)
	if err != nil {
		return err
	}
	for _, d := range out {
		if d.ID == "" {
			return errors.New("webhook delivery without an id")
		}
		created := d.CreatedAt
		if created.IsZero() {
			created = s.now()
		}
		next, updated := d.NextAttemptAt, d.UpdatedAt
		if next.IsZero() {
			next = created
		}
		if updated.IsZero() {
			updated = created
		}
		// The body is not copied to a string first: a body is never
		// changed once made (the core shares one between its receivers),
		// and the driver copies it into SQLite's memory as it binds it.
		body := unsafe.String(unsafe.SliceData(d.Body), len(d.Body))
		_, err := stmt.ExecContext(ctx, d.ID, sqlrows.NullString(d.CallID), sqlrows.NullString(d.AssistantID), d.URL,
			d.EventType, body, core.DeliveryPending, timestamp(next), timestamp(created),
			timestamp(updated))
		if isUniqueViolation(err) {
			return core.FieldError(core.CodeConflict, "id", "webhook delivery %q already exists", d.ID)
		}
		// The table's CHECK (json_valid(body)) is the one check of the
		// body: checking it in Go as well cost the hot path a second
		// parse of every body. Status and attempts are constants here.
		if sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_CHECK {
			return fmt.Errorf("webhook delivery %s: body is not JSON: %w", d.ID, err)
		}
		if err != nil {
			return fmt.Errorf("webhook delivery %s: %w", d.ID, err)
		}
	}
	return nil
}

// DueDeliveries returns the pending deliveries due at now, at most
// limit, each the oldest pending delivery of its call to its URL (see
// isHead), those that fell due first first, then by creation. A limit
// below 1 returns none.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]core.WebhookDelivery, error) {
	if limit < 1 {
		return nil, nil
	}
	var list []core.WebhookDelivery
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		st, err := s.readStmts.in(ctx, tx, dueQuery)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(ctx, timestamp(now), limit)
		if err != nil {
			return err
		}
		list, err = sqlrows.ScanAll(rows, scanDeliveryWithBody)
		return err
	})
	if err != nil {
		return nil, wrap(err, "due webhook deliveries")
	}
	return list, nil
}

// NextDueAt returns when the first delivery that DueDeliveries could
// return falls due (it may be past), and false when none is pending. A
// delivery waiting behind an older one of its call is not counted: its
// time is the older one's to set.
func (s *Store) NextDueAt(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	err := s.readStmts[nextDueQuery].QueryRowContext(ctx).Scan((*timestamp)(&next))
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next webhook delivery: %w", err)
	}
	return next, true, nil
}

// UpdateDelivery records an attempt's outcome: status, attempts, next
// attempt, last status and error, and delivered time; the URL, body and
// the rest stay as stored. A zero UpdatedAt is now. An unknown id is
// CodeNotFound, an unknown status CodeInvalidRequest.
func (s *Store) UpdateDelivery(ctx context.Context, d core.WebhookDelivery) error {
	if err := core.CheckDeliveryOutcome(d); err != nil {
		return err
	}
	err := s.inBatchTx(ctx, func(tx *sql.Tx) error {
		st, err := s.writeStmts.in(ctx, tx, updateDeliverySQL)
		if err != nil {
			return err
		}
		res, err := s.execUpdateDelivery(ctx, st, d, s.now())
		if err != nil {
			return err
		}
		return mustAffect(res, "webhook delivery", d.ID)
	})
	return wrap(err, "update webhook delivery %s", d.ID)
}

// UpdateDeliveries records the outcomes of several attempts, as
// UpdateDelivery each, in one write; unknown ids are skipped.
func (s *Store) UpdateDeliveries(ctx context.Context, ds []core.WebhookDelivery) error {
	for _, d := range ds {
		if err := core.CheckDeliveryOutcome(d); err != nil {
			return err
		}
	}
	if len(ds) == 0 {
		return nil
	}
	now := s.now()
	err := s.inBatchTx(ctx, func(tx *sql.Tx) error {
		st, err := s.writeStmts.in(ctx, tx, updateDeliverySQL)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if _, err := s.execUpdateDelivery(ctx, st, d, now); err != nil {
				return fmt.Errorf("webhook delivery %s: %w", d.ID, err)
			}
		}
		return nil
	})
	return wrap(err, "update %d webhook deliveries", len(ds))
}

// execUpdateDelivery runs updateDeliverySQL for d; a zero UpdatedAt is
// now.
func (s *Store) execUpdateDelivery(ctx context.Context, st *sql.Stmt, d core.WebhookDelivery, now time.Time) (sql.Result, error) {
	updated := d.UpdatedAt
	if updated.IsZero() {
		updated = now
	}
	return st.ExecContext(ctx,
		d.Status, d.Attempts, timestamp(d.NextAttemptAt), sqlrows.NullInt(d.LastStatus), sqlrows.NullString(d.LastError),
		nullTime(d.DeliveredAt), timestamp(updated), d.ID)
}

// ClaimDeliveries moves the next attempt of those of the deliveries ids
// that are still pending to until, in one write, and returns the ids it
// moved.
func (s *Store) ClaimDeliveries(ctx context.Context, ids []string, until, now time.Time) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	var claimed []string
	err = s.inBatchTx(ctx, func(tx *sql.Tx) error {
		claimed = claimed[:0] // a batch that failed runs its writes again
		st, err := s.writeStmts.in(ctx, tx, claimDeliveriesSQL)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(ctx, timestamp(until), timestamp(now), string(list))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			claimed = append(claimed, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(err, "claim webhook deliveries")
	}
	return claimed, nil
}

// GetDelivery returns one delivery with its body, or CodeNotFound.
func (s *Store) GetDelivery(ctx context.Context, id string) (core.WebhookDelivery, error) {
	return getOne(s.read.QueryRowContext(ctx, "SELECT "+deliveryColumns+withBody+" FROM webhook_deliveries WHERE id = ?", id),
		scanDeliveryWithBody, "webhook delivery", id)
}

// ListDeliveries returns a page of deliveries, newest first, without
// their bodies (GetDelivery has them), and how many match the filter in
// all. An empty CallID or Status matches every delivery.
func (s *Store) ListDeliveries(ctx context.Context, f core.DeliveryFilter) ([]core.WebhookDelivery, int, error) {
	where, args := deliveryFilter(f)
	q := pageQuery{columns: deliveryColumns, from: "webhook_deliveries" + where, args: args, order: "id DESC"}
	list, total, err := listPage(ctx, s, q, f.Page, scanDeliveryWithoutBody, nil)
	if err != nil {
		return nil, 0, wrap(err, "list webhook deliveries")
	}
	return list, total, nil
}

// deliveryFilter is the WHERE clause, with its arguments, of the
// deliveries f selects; "" when it selects all.
func deliveryFilter(f core.DeliveryFilter) (string, []any) {
	switch {
	case f.CallID != "" && f.Status != "":
		// The unary + keeps the planner on the call's index, the more
		// selective: a call has few deliveries, a status many.
		return " WHERE call_id = ? AND +status = ?", []any{f.CallID, f.Status}
	case f.CallID != "":
		return " WHERE call_id = ?", []any{f.CallID}
	case f.Status != "":
		return " WHERE status = ?", []any{f.Status}
	}
	return "", nil
}

// scanDelivery reads a row of deliveryColumns, and the body after them
// when body is set.
func scanDelivery(row sqlrows.Scanner, body bool) (core.WebhookDelivery, error) {
	var (
		d                              core.WebhookDelivery
		callID, assistantID, lastError sql.NullString
		lastStatus                     sql.NullInt64
		doc                            string
	)
	dest := make([]any, 0, 14) // room for the body: no regrowth
	dest = append(dest, &d.ID, &callID, &assistantID, &d.URL, &d.EventType, &d.Status, &d.Attempts,
		(*timestamp)(&d.NextAttemptAt), &lastStatus, &lastError, (*timestamp)(&d.CreatedAt),
		(*timestamp)(&d.UpdatedAt), nullTimestamp{&d.DeliveredAt})
	if body {
		dest = append(dest, &doc)
	}
	if err := row.Scan(dest...); err != nil {
		return core.WebhookDelivery{}, err
	}
	d.CallID, d.AssistantID, d.LastError = callID.String, assistantID.String, lastError.String
	d.LastStatus = int(lastStatus.Int64)
	if body {
		d.Body = json.RawMessage(doc)
	}
	return d, nil
}

// scanDeliveryWithBody reads a row of deliveryColumns and withBody.
func scanDeliveryWithBody(row sqlrows.Scanner) (core.WebhookDelivery, error) {
	return scanDelivery(row, true)
}

// scanDeliveryWithoutBody reads a row of deliveryColumns.
func scanDeliveryWithoutBody(row sqlrows.Scanner) (core.WebhookDelivery, error) {
	return scanDelivery(row, false)
}
