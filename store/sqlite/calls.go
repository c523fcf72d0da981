package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ core.CallStore = (*Store)(nil)

const callColumns = "id, direction, status, caller_phone, agent_phone, number_id, assistant_id, " +
	"sip_call_id, remote_addr, trunk_id, started_at, ended_at, duration_seconds, end_reason, error, " +
	"created_at, updated_at, first_message"

const transferColumns = "id, call_id, destination, destination_type, refer_to, message, status, " +
	"sip_status, reason, requested_by, steps, created_at, updated_at, ended_at, confirmed_by, " +
	"mode, summary, attempt, attempts"

// transfersOldestFirst orders a call's transfers; the index on transfers
// (call_id, created_at, id) serves it.
const transfersOldestFirst = " ORDER BY call_id, created_at, id"

// shutdownTransferReason is the reason EndLiveCalls gives the transfers
// it cancels.
const shutdownTransferReason = "the server stopped during the transfer"

var (
	// liveCallStatuses are the statuses of a call still up (core.Call.Live).
	liveCallStatuses = sqlStrings(core.CallRinging, core.CallDialing, core.CallInProgress)
	// openTransferStatuses are those of a transfer not yet final
	// (core.Transfer.Final).
	openTransferStatuses = sqlStrings(core.TransferRequested, core.TransferAccepted, core.TransferTrying, core.TransferRinging)
)

// CreateCall stores a new call, and the webhook deliveries in out in the
// same transaction; an id already stored is CodeConflict, and then no
// delivery is written either. Only the call's own fields are stored: its
// transfers go through SaveTransfer.
func (s *Store) CreateCall(ctx context.Context, c core.Call, out ...core.WebhookDelivery) error {
	err := s.inBatchTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO calls (`+callColumns+`)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Direction, c.Status, nullString(c.CallerPhone), nullString(c.AgentPhone),
			nullString(c.NumberID), nullString(c.AssistantID), nullString(c.SIPCallID),
			nullString(c.RemoteAddr), nullString(c.TrunkID), nullTime(c.StartedAt), nullTime(c.EndedAt),
			nullInt(c.DurationSeconds), nullString(c.EndReason), nullString(c.Error),
			formatTime(c.CreatedAt), formatTime(c.UpdatedAt), nullString(c.FirstMessage))
		if isUniqueViolation(err) {
			return core.FieldError(core.CodeConflict, "id", "call %q already exists", c.ID)
		}
		if err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, out)
	})
	return wrap(err, "create call %s", c.ID)
}

// UpdateCall replaces the stored call's own fields, or returns
// CodeNotFound. Its transfers and its creation time stay as stored. The
// webhook deliveries in out are written in the same transaction, and
// only if the update is.
func (s *Store) UpdateCall(ctx context.Context, c core.Call, out ...core.WebhookDelivery) error {
	err := s.inBatchTx(ctx, func(tx *sql.Tx) error {
		st, err := s.writeStmts.in(ctx, tx, updateCallSQL)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx,
			c.Direction, c.Status, nullString(c.CallerPhone), nullString(c.AgentPhone), nullString(c.NumberID),
			nullString(c.AssistantID), nullString(c.SIPCallID), nullString(c.RemoteAddr), nullString(c.TrunkID),
			nullTime(c.StartedAt), nullTime(c.EndedAt), nullInt(c.DurationSeconds), nullString(c.EndReason),
			nullString(c.Error), formatTime(c.UpdatedAt), nullString(c.FirstMessage), c.ID)
		if err != nil {
			return err
		}
		if err := mustAffect(res, "call", c.ID); err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, out)
	})
	return wrap(err, "update call %s", c.ID)
}

// GetCall returns the call with its transfers, oldest first, or
// CodeNotFound.
func (s *Store) GetCall(ctx context.Context, id string) (core.Call, error) {
	var c core.Call
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		get, err := s.readStmts.in(ctx, tx, getCallSQL)
		if err != nil {
			return err
		}
		c, err = scanCall(get.QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			return core.NotFound("call", id)
		}
		if err != nil {
			return err
		}
		list, err := s.readStmts.in(ctx, tx, callTransferSQL)
		if err != nil {
			return err
		}
		rows, err := list.QueryContext(ctx, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanTransfer(rows)
			if err != nil {
				return err
			}
			c.Transfers = append(c.Transfers, t)
		}
		return rows.Err()
	})
	if err != nil {
		return core.Call{}, wrap(err, "get call %s", id)
	}
	return c, nil
}

// ListCalls returns a page of calls, newest first, each with its
// transfers (oldest first), and how many calls match the filter in all.
// An empty f.Status matches every call.
func (s *Store) ListCalls(ctx context.Context, f core.CallFilter) ([]core.Call, int, error) {
	p, err := f.Page.Normalize()
	if err != nil {
		return nil, 0, err
	}
	var (
		where string
		args  []any
	)
	if f.Status != "" {
		where, args = " WHERE status = ?", []any{f.Status}
	}
	list := []core.Call{} // not nil: an empty page is [] in JSON
	var total int
	err = s.inReadTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM calls"+where, args...).Scan(&total); err != nil {
			return err
		}
		if err := listCalls(ctx, tx, &list,
			"SELECT "+callColumns+" FROM calls"+where+" ORDER BY id DESC LIMIT ? OFFSET ?",
			append(args, p.Limit, p.Offset)...); err != nil {
			return err
		}
		return attachTransfers(ctx, tx, list)
	})
	if err != nil {
		return nil, 0, wrap(err, "list calls")
	}
	return list, total, nil
}

// listCalls appends the calls query returns to list.
func listCalls(ctx context.Context, tx *sql.Tx, list *[]core.Call, query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return err
		}
		*list = append(*list, c)
	}
	return rows.Err()
}

// attachTransfers loads the transfers of all the calls in one query and
// hands each call its own, oldest first.
func attachTransfers(ctx context.Context, tx *sql.Tx, calls []core.Call) error {
	if len(calls) == 0 {
		return nil
	}
	index := make(map[string]int, len(calls))
	ids := make([]string, len(calls))
	for i, c := range calls {
		index[c.ID], ids[i] = i, c.ID
	}
	idList, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("encode call ids: %w", err)
	}
	rows, err := tx.QueryContext(ctx,
		"SELECT "+transferColumns+" FROM transfers WHERE call_id IN (SELECT value FROM json_each(?))"+
			transfersOldestFirst, string(idList))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTransfer(rows)
		if err != nil {
			return err
		}
		i, ok := index[t.CallID]
		if !ok { // cannot happen: the query asked for these calls only
			return fmt.Errorf("transfer %s of call %s, which is not on the page", t.ID, t.CallID)
		}
		calls[i].Transfers = append(calls[i].Transfers, t)
	}
	return rows.Err()
}

// SaveTransfer inserts the transfer or replaces the stored one with the
// same id, steps included; the stored creation time stays. A call_id that
// does not exist is CodeNotFound on call_id; a transfer stored under
// another call is CodeConflict on call_id (a transfer never moves). The
// webhook deliveries in out are written in the same transaction, and only
// if the transfer is.
func (s *Store) SaveTransfer(ctx context.Context, t core.Transfer, out ...core.WebhookDelivery) error {
	steps, err := encodeSteps(t.Steps)
	if err != nil {
		return fmt.Errorf("save transfer %s: %w", t.ID, err)
	}
	attempts, err := encodeAttempts(t.Attempts)
	if err != nil {
		return fmt.Errorf("save transfer %s: %w", t.ID, err)
	}
	err = s.inBatchTx(ctx, func(tx *sql.Tx) error {
		st, err := s.writeStmts.in(ctx, tx, saveTransferSQL)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx,
			t.ID, t.CallID, t.Destination, t.DestinationType, nullString(t.ReferTo), nullString(t.Message),
			t.Status, nullInt(t.SIPStatus), nullString(t.Reason), nullString(t.RequestedBy), steps,
			formatTime(t.CreatedAt), formatTime(t.UpdatedAt), nullTime(t.EndedAt), nullString(t.ConfirmedBy),
			nullString(t.Mode), nullString(t.Summary), nullInt(t.Attempt), attempts,
			t.ReferTo != "", connectMS(t))
		if sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			return core.FieldError(core.CodeNotFound, "call_id", "call %q not found", t.CallID)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("rows affected: %w", err)
		}
		if n == 0 { // the id is taken, under another call
			return core.FieldError(core.CodeConflict, "call_id", "transfer %q belongs to another call", t.ID)
		}
		return s.insertDeliveries(ctx, tx, out)
	})
	return wrap(err, "save transfer %s", t.ID)
}

// connectMS is the statistics' time to connect: whole milliseconds from
// the request to the completion of a completed transfer; NULL otherwise.
func connectMS(t core.Transfer) any {
	if t.Status != core.TransferCompleted || t.EndedAt == nil {
		return nil
	}
	return float64(t.EndedAt.Truncate(time.Millisecond).Sub(t.CreatedAt.Truncate(time.Millisecond)).Milliseconds())
}

// EndLiveCalls marks every call still ringing, dialing or in progress as
// ended with the given reason at the given time, its duration counted
// from its start when it had one, and cancels the transfers of those
// calls that had not ended, with a step saying why. It returns how many
// calls it ended; all of it is one change.
func (s *Store) EndLiveCalls(ctx context.Context, reason string, at time.Time) (int, error) {
	at = at.UTC().Truncate(time.Millisecond)
	var ended int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The transfers first: they are found through their calls' status.
		if err := cancelOpenTransfers(ctx, tx, at); err != nil {
			return err
		}
		type liveCall struct {
			id       string
			duration int
		}
		var live []liveCall
		rows, err := tx.QueryContext(ctx,
			"SELECT id, started_at, duration_seconds FROM calls WHERE status IN "+liveCallStatuses)
		if err != nil {
			return fmt.Errorf("find live calls: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c        liveCall
				started  sql.NullString
				duration sql.NullInt64
			)
			if err := rows.Scan(&c.id, &started, &duration); err != nil {
				return fmt.Errorf("find live calls: %w", err)
			}
			c.duration = int(duration.Int64)
			if started.Valid {
				t, err := parseTime(started.String)
				if err != nil {
					return fmt.Errorf("call %s started_at: %w", c.id, err)
				}
				c.duration = max(0, int(at.Sub(t).Round(time.Second)/time.Second))
			}
			live = append(live, c)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find live calls: %w", err)
		}
		rows.Close()
		if len(live) == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx,
			`UPDATE calls SET status = ?, end_reason = ?, ended_at = ?, duration_seconds = ?, updated_at = ?
			 WHERE id = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		ts := formatTime(at)
		for _, c := range live {
			if _, err := stmt.ExecContext(ctx,
				core.CallEnded, nullString(reason), ts, nullInt(c.duration), ts, c.id); err != nil {
				return fmt.Errorf("end call %s: %w", c.id, err)
			}
		}
		ended = len(live)
		return nil
	})
	if err != nil {
		return 0, wrap(err, "end live calls")
	}
	if ended > 0 {
		s.logger.InfoContext(ctx, "store ended live calls", "calls", ended, "reason", reason)
	}
	return ended, nil
}

// cancelOpenTransfers cancels the transfers of live calls that have not
// ended, appending the step.
func cancelOpenTransfers(ctx context.Context, tx *sql.Tx, at time.Time) error {
	type open struct {
		id       string
		steps    []core.TransferStep
		attempt  int
		attempts []core.TransferAttempt
	}
	var list []open
	rows, err := tx.QueryContext(ctx,
		"SELECT id, steps, attempt, attempts FROM transfers WHERE status IN "+openTransferStatuses+
			" AND call_id IN (SELECT id FROM calls WHERE status IN "+liveCallStatuses+")")
	if err != nil {
		return fmt.Errorf("find open transfers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			t        open
			steps    string
			attempt  sql.NullInt64
			attempts sql.NullString
		)
		if err := rows.Scan(&t.id, &steps, &attempt, &attempts); err != nil {
			return fmt.Errorf("find open transfers: %w", err)
		}
		if t.steps, err = decodeSteps(steps); err != nil {
			return fmt.Errorf("transfer %s: %w", t.id, err)
		}
		t.attempt = int(attempt.Int64)
		if attempts.Valid && attempts.String != "" {
			if err := json.Unmarshal([]byte(attempts.String), &t.attempts); err != nil {
				return fmt.Errorf("transfer %s attempts: %w", t.id, err)
			}
		}
		list = append(list, t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find open transfers: %w", err)
	}
	rows.Close()
	if len(list) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx,
		"UPDATE transfers SET status = ?, reason = ?, steps = ?, ended_at = ?, updated_at = ?, attempts = ? WHERE id = ?")
	if err != nil {
		return err
	}
	defer stmt.Close()
	ts := formatTime(at)
	for _, t := range list {
		steps, err := encodeSteps(append(t.steps,
			core.TransferStep{Status: core.TransferCanceled, Attempt: t.attempt, Reason: shutdownTransferReason, At: at}))
		if err != nil {
			return fmt.Errorf("transfer %s: %w", t.id, err)
		}
		// The attempt that was under way ends with the transfer.
		if i := t.attempt - 1; i >= 0 && i < len(t.attempts) {
			a := &t.attempts[i]
			a.Status, a.Reason, a.EndedAt = core.TransferCanceled, shutdownTransferReason, &at
			if a.LegStatus == core.LegDialing || a.LegStatus == core.LegAnswered {
				a.LegStatus = core.LegEnded
			}
		}
		attempts, err := encodeAttempts(t.attempts)
		if err != nil {
			return fmt.Errorf("transfer %s: %w", t.id, err)
		}
		if _, err := stmt.ExecContext(ctx,
			core.TransferCanceled, shutdownTransferReason, steps, ts, ts, attempts, t.id); err != nil {
			return fmt.Errorf("cancel transfer %s: %w", t.id, err)
		}
	}
	return nil
}

// scanCall reads a row of callColumns.
func scanCall(row rowScanner) (core.Call, error) {
	var (
		c                                                 core.Call
		caller, agent, number, assistant, sipCallID, addr sql.NullString
		trunk, started, ended, endReason, callErr         sql.NullString
		firstMessage                                      sql.NullString
		duration                                          sql.NullInt64
		created, updated                                  string
	)
	if err := row.Scan(&c.ID, &c.Direction, &c.Status, &caller, &agent, &number, &assistant,
		&sipCallID, &addr, &trunk, &started, &ended, &duration, &endReason, &callErr,
		&created, &updated, &firstMessage); err != nil {
		return core.Call{}, err
	}
	// A NULL column scans as the zero value: the field was unset.
	c.CallerPhone, c.AgentPhone, c.NumberID, c.AssistantID = caller.String, agent.String, number.String, assistant.String
	c.SIPCallID, c.RemoteAddr, c.TrunkID = sipCallID.String, addr.String, trunk.String
	c.DurationSeconds, c.EndReason, c.Error = int(duration.Int64), endReason.String, callErr.String
	c.FirstMessage = firstMessage.String
	var err error
	if c.StartedAt, err = parseNullTime(started); err != nil {
		return core.Call{}, fmt.Errorf("call %s started_at: %w", c.ID, err)
	}
	if c.EndedAt, err = parseNullTime(ended); err != nil {
		return core.Call{}, fmt.Errorf("call %s ended_at: %w", c.ID, err)
	}
	if c.CreatedAt, err = parseTime(created); err != nil {
		return core.Call{}, fmt.Errorf("call %s created_at: %w", c.ID, err)
	}
	if c.UpdatedAt, err = parseTime(updated); err != nil {
		return core.Call{}, fmt.Errorf("call %s updated_at: %w", c.ID, err)
	}
	return c, nil
}

// scanTransfer reads a row of transferColumns.
func scanTransfer(row rowScanner) (core.Transfer, error) {
	var (
		t                                     core.Transfer
		referTo, message, reason, requestedBy sql.NullString
		confirmedBy                           sql.NullString
		mode, summary, attempts               sql.NullString
		attempt                               sql.NullInt64
		ended                                 sql.NullString
		sipStatus                             sql.NullInt64
		steps, created, updated               string
	)
	if err := row.Scan(&t.ID, &t.CallID, &t.Destination, &t.DestinationType, &referTo, &message,
		&t.Status, &sipStatus, &reason, &requestedBy, &steps, &created, &updated, &ended, &confirmedBy,
		&mode, &summary, &attempt, &attempts); err != nil {
		return core.Transfer{}, err
	}
	t.ReferTo, t.Message, t.Reason, t.RequestedBy = referTo.String, message.String, reason.String, requestedBy.String
	t.SIPStatus = int(sipStatus.Int64)
	t.ConfirmedBy = confirmedBy.String
	t.Mode, t.Summary, t.Attempt = mode.String, summary.String, int(attempt.Int64)
	var err error
	if attempts.Valid && attempts.String != "" {
		if err := json.Unmarshal([]byte(attempts.String), &t.Attempts); err != nil {
			return core.Transfer{}, fmt.Errorf("transfer %s attempts: %w", t.ID, err)
		}
	}
	if t.Steps, err = decodeSteps(steps); err != nil {
		return core.Transfer{}, fmt.Errorf("transfer %s: %w", t.ID, err)
	}
	if t.CreatedAt, err = parseTime(created); err != nil {
		return core.Transfer{}, fmt.Errorf("transfer %s created_at: %w", t.ID, err)
	}
	if t.UpdatedAt, err = parseTime(updated); err != nil {
		return core.Transfer{}, fmt.Errorf("transfer %s updated_at: %w", t.ID, err)
	}
	if t.EndedAt, err = parseNullTime(ended); err != nil {
		return core.Transfer{}, fmt.Errorf("transfer %s ended_at: %w", t.ID, err)
	}
	return t, nil
}

// stepRecord is a core.TransferStep as the steps column holds it, its
// time in the store's timestamp format.
type stepRecord struct {
	Status    string `json:"status"`
	Attempt   int    `json:"attempt,omitempty"`
	SIPStatus int    `json:"sip_status,omitempty"`
	Reason    string `json:"reason,omitempty"`
	At        string `json:"at"`
}

// encodeSteps returns the JSON array the steps column holds; no steps is [].
func encodeSteps(steps []core.TransferStep) (string, error) {
	recs := make([]stepRecord, len(steps))
	for i, st := range steps {
		recs[i] = stepRecord{Status: st.Status, Attempt: st.Attempt, SIPStatus: st.SIPStatus, Reason: st.Reason, At: formatTime(st.At)}
	}
	b, err := json.Marshal(recs)
	if err != nil {
		return "", fmt.Errorf("encode steps: %w", err)
	}
	return string(b), nil
}

// decodeSteps reverses encodeSteps. The result is never nil, so that a
// transfer without steps shows "steps": [] as the API requires.
func decodeSteps(doc string) ([]core.TransferStep, error) {
	var recs []stepRecord
	if err := json.Unmarshal([]byte(doc), &recs); err != nil {
		return nil, fmt.Errorf("decode steps: %w", err)
	}
	steps := make([]core.TransferStep, len(recs))
	for i, r := range recs {
		at, err := parseTime(r.At)
		if err != nil {
			return nil, fmt.Errorf("decode steps: step %d: %w", i, err)
		}
		steps[i] = core.TransferStep{Status: r.Status, Attempt: r.Attempt, SIPStatus: r.SIPStatus, Reason: r.Reason, At: at}
	}
	return steps, nil
}

// nullString stores an unset (empty) string as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullInt stores an unset (zero) number as NULL.
func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

// nullTime stores an unset time as NULL.
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

// parseNullTime reverses nullTime.
func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// sqlStrings is a parenthesised list of SQL string literals, for an IN
// over a fixed set of constants.
func sqlStrings(values ...string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return "(" + strings.Join(quoted, ", ") + ")"
}

// encodeAttempts returns the JSON array the attempts column holds, or NULL
// for none. Their times are core's own (RFC 3339, UTC, milliseconds).
func encodeAttempts(as []core.TransferAttempt) (any, error) {
	if len(as) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(as)
	if err != nil {
		return nil, fmt.Errorf("encode attempts: %w", err)
	}
	return string(b), nil
}
