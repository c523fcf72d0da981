package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

// deliveryColumns are the columns of a delivery without its body;
// withBody adds it, last.
const (
	deliveryColumns = "id, call_id, assistant_id, url, event_type, status, attempts, next_attempt_at, " +
		"last_status, last_error, created_at, updated_at, delivered_at"
	withBody = ", body"
)

const (
	// pendingStatus is core.DeliveryPending as an SQL literal: the
	// partial indexes of pending deliveries serve only a query that names
	// the status as their definition does.
	pendingStatus = "'" + core.DeliveryPending + "'"

	// isHead is the condition that delivery d (the alias) is the oldest
	// pending delivery of its call to its URL, so the next one that may
	// be sent: a call's events reach each receiver in the order they
	// happened, and one receiver that is down holds up nobody else. A
	// delivery without a call is its own head. A delivery claimed by a
	// node stays pending while it is in flight, so the deliveries of its
	// call behind it wait, whichever node would send them.
	isHead = `(d.call_id IS NULL OR NOT EXISTS (
		SELECT 1 FROM webhook_deliveries AS e
		WHERE e.call_id = d.call_id AND e.url = d.url AND e.id < d.id AND e.status = ` + pendingStatus + `))`

	// dueQuery selects the due heads, first due first.
	dueQuery = "SELECT " + deliveryColumns + withBody + " FROM webhook_deliveries AS d WHERE d.status = " +
		pendingStatus + " AND d.next_attempt_at <= $1 AND " + isHead + " ORDER BY d.next_attempt_at, d.id LIMIT $2"

	// nextDueQuery selects when the first head falls due.
	nextDueQuery = "SELECT d.next_attempt_at FROM webhook_deliveries AS d WHERE d.status = " + pendingStatus +
		" AND " + isHead + " ORDER BY d.next_attempt_at, d.id LIMIT 1"

	// claimQuery claims, of the deliveries $3 names, those still pending,
	// due at $2 and the heads of their calls, by moving their next attempt
	// to $1, and returns their ids. The dispatchers of several nodes may
	// have read the same due deliveries: FOR UPDATE SKIP LOCKED leaves a
	// delivery another node is claiming at this moment to that node, and
	// one it has claimed already is no longer due when the row is locked
	// and read again, so each delivery goes to one node. A claim that runs
	// out (the node died mid-attempt) makes the delivery due again, for
	// any node. The times are the claiming node's clock: the nodes' clocks
	// must agree (NTP) to well within a claim's length (the attempt's
	// timeout and a margin, seconds).
	claimQuery = `UPDATE webhook_deliveries SET next_attempt_at = $1, updated_at = $2
		WHERE id IN (SELECT d.id FROM webhook_deliveries AS d
			WHERE d.id = ANY($3) AND d.status = ` + pendingStatus + ` AND d.next_attempt_at <= $2 AND ` + isHead + `
			FOR UPDATE SKIP LOCKED)
		RETURNING id`
)

// insertDeliveries adds new deliveries to the outbox in tx, the
// transaction of the change they announce. A new delivery starts pending,
// with no attempt made; a zero CreatedAt is now, a zero NextAttemptAt or
// UpdatedAt is CreatedAt. A body that is not JSON fails the whole change.
func (s *Store) insertDeliveries(ctx context.Context, tx *sql.Tx, out []core.WebhookDelivery) error {
	for _, d := range out {
		if d.ID == "" {
			return errors.New("webhook delivery without an id")
		}
		if !json.Valid(d.Body) {
			return fmt.Errorf("webhook delivery %s: body is not JSON", d.ID)
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
		_, err := tx.ExecContext(ctx,
			`INSERT INTO webhook_deliveries (id, call_id, assistant_id, url, event_type, body, status, attempts,
			     next_attempt_at, created_at, updated_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10)`,
			d.ID, sqlrows.NullString(d.CallID), sqlrows.NullString(d.AssistantID), d.URL,
			d.EventType, string(d.Body), core.DeliveryPending, timestamp(next), timestamp(created),
			timestamp(updated))
		if isUniqueViolation(err) {
			return core.FieldError(core.CodeConflict, "id", "webhook delivery %q already exists", d.ID)
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
// below 1 returns none. It only reads: ClaimDeliveries decides which node
// sends what.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]core.WebhookDelivery, error) {
	if limit < 1 {
		return nil, nil
	}
	var list []core.WebhookDelivery
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		list, err = sqlrows.QueryAll(ctx, tx, scanDeliveryWithBody, dueQuery, timestamp(now), limit)
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
	err := s.db.QueryRowContext(ctx, nextDueQuery).Scan((*timestamp)(&next))
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
	res, err := s.db.ExecContext(ctx, updateDeliveryQuery, updateDeliveryArgs(d, s.now())...)
	if err == nil {
		err = mustAffect(res, "webhook delivery", d.ID)
	}
	return wrap(err, "update webhook delivery %s", d.ID)
}

// UpdateDeliveries records the outcomes of several attempts, as
// UpdateDelivery each, in one transaction; unknown ids are skipped.
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
	// In the order of their ids, as every batch takes its row locks, so
	// that two batches never wait on each other.
	ds = slices.SortedFunc(slices.Values(ds), func(a, b core.WebhookDelivery) int { return strings.Compare(a.ID, b.ID) })
	err := s.inTx(ctx, func(tx *sql.Tx) error { return updateDeliveriesTx(ctx, tx, ds, now) })
	return wrap(err, "update %d webhook deliveries", len(ds))
}

// updateDeliveriesTx records outcomes, already in id order, in tx.
func updateDeliveriesTx(ctx context.Context, tx *sql.Tx, ds []core.WebhookDelivery, now time.Time) error {
	st, err := tx.PrepareContext(ctx, updateDeliveryQuery)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, d := range ds {
		if _, err := st.ExecContext(ctx, updateDeliveryArgs(d, now)...); err != nil {
			return fmt.Errorf("webhook delivery %s: %w", d.ID, err)
		}
	}
	return nil
}

// updateDeliveryQuery records an outcome (updateDeliveryArgs).
const updateDeliveryQuery = `UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_status = $4,
		     last_error = $5, delivered_at = $6, updated_at = $7
		 WHERE id = $8`

// updateDeliveryArgs are updateDeliveryQuery's arguments for d; a zero
// UpdatedAt is now.
func updateDeliveryArgs(d core.WebhookDelivery, now time.Time) []any {
	updated := d.UpdatedAt
	if updated.IsZero() {
		updated = now
	}
	return []any{d.Status, d.Attempts, timestamp(d.NextAttemptAt), sqlrows.NullInt(d.LastStatus),
		sqlrows.NullString(d.LastError), nullTime(d.DeliveredAt), timestamp(updated), d.ID}
}

// ClaimDeliveries moves the next attempt of those of the deliveries ids
// that are still pending, due at now and the heads of their calls to
// until, in one statement, and returns the ids it moved: of several nodes
// claiming one delivery, one gets it (see claimQuery).
func (s *Store) ClaimDeliveries(ctx context.Context, ids []string, until, now time.Time) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, claimQuery, timestamp(until), timestamp(now), ids)
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	claimed, err := sqlrows.ScanAll(rows, func(r sqlrows.Scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	return claimed, nil
}

// GetDelivery returns one delivery with its body, or CodeNotFound.
func (s *Store) GetDelivery(ctx context.Context, id string) (core.WebhookDelivery, error) {
	return getOne(s.db.QueryRowContext(ctx, "SELECT "+deliveryColumns+withBody+" FROM webhook_deliveries WHERE id = $1", id),
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
		return " WHERE call_id = $1 AND status = $2", []any{f.CallID, f.Status}
	case f.CallID != "":
		return " WHERE call_id = $1", []any{f.CallID}
	case f.Status != "":
		return " WHERE status = $1", []any{f.Status}
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
	dest := []any{&d.ID, &callID, &assistantID, &d.URL, &d.EventType, &d.Status, &d.Attempts,
		(*timestamp)(&d.NextAttemptAt), &lastStatus, &lastError, (*timestamp)(&d.CreatedAt),
		(*timestamp)(&d.UpdatedAt), nullTimestamp{&d.DeliveredAt}}
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
