package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/voicedock/voicedock/core"
)

const transferColumns = "id, call_id, destination, destination_type, refer_to, message, status, " +
	"sip_status, reason, requested_by, steps, created_at, updated_at, ended_at, confirmed_by, " +
	"mode, summary, attempt, attempts"

// transfersOldestFirst orders a call's transfers; the index on transfers
// (call_id, created_at, id) serves it.
const transfersOldestFirst = " ORDER BY call_id, created_at, id"

// saveTransferSQL inserts a transfer, or replaces the one with its id
// when that one is of the same call (none is changed otherwise, and the
// caller reports the conflict). The statistics' copies of the call's
// columns are read in the same statement.
const saveTransferSQL = `INSERT INTO transfers (` + transferColumns + `, attempted, connect_ms,
	     call_created_at, call_assistant_id, call_number_id)
	 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
	     (SELECT c.created_at FROM calls c WHERE c.id = $2), (SELECT c.assistant_id FROM calls c WHERE c.id = $2),
	     (SELECT c.number_id FROM calls c WHERE c.id = $2))
	 ON CONFLICT (id) DO UPDATE SET attempted = excluded.attempted, connect_ms = excluded.connect_ms,
	     call_created_at = excluded.call_created_at,
	     call_assistant_id = excluded.call_assistant_id, call_number_id = excluded.call_number_id, destination = excluded.destination,
	     destination_type = excluded.destination_type, refer_to = excluded.refer_to,
	     message = excluded.message, status = excluded.status, sip_status = excluded.sip_status,
	     reason = excluded.reason, requested_by = excluded.requested_by, steps = excluded.steps,
	     updated_at = excluded.updated_at, ended_at = excluded.ended_at,
	     confirmed_by = excluded.confirmed_by, mode = excluded.mode, summary = excluded.summary,
	     attempt = excluded.attempt, attempts = excluded.attempts
	 WHERE transfers.call_id = excluded.call_id`

// SaveTransfer inserts the transfer or replaces the stored one with the
// same id, steps included; the stored creation time stays. A call_id that
// does not exist is CodeNotFound on call_id; a transfer stored under
// another call is CodeConflict on call_id (a transfer never moves). The
// webhook deliveries in out are written in the same transaction, and only
// if the transfer is.
func (s *Store) SaveTransfer(ctx context.Context, t core.Transfer, out ...core.WebhookDelivery) error {
	args, err := transferArgs(t)
	if err != nil {
		return fmt.Errorf("save transfer %s: %w", t.ID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := saveTransfer(ctx, tx, t, args); err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, out)
	})
	return wrap(err, "save transfer %s", t.ID)
}

// saveTransfer writes t, as transferArgs encoded it, in tx.
func saveTransfer(ctx context.Context, tx *sql.Tx, t core.Transfer, args []any) error {
	res, err := tx.ExecContext(ctx, saveTransferSQL, args...)
	if isCode(err, foreignKeyViolation) {
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
	return nil
}

// transferArgs are the arguments of saveTransferSQL for t.
func transferArgs(t core.Transfer) ([]any, error) {
	steps, err := encodeSteps(t.Steps)
	if err != nil {
		return nil, err
	}
	attempts, err := encodeAttempts(t.Attempts)
	if err != nil {
		return nil, err
	}
	return []any{
		t.ID, t.CallID, t.Destination, t.DestinationType, nullString(t.ReferTo), nullString(t.Message),
		t.Status, nullInt(t.SIPStatus), nullString(t.Reason), nullString(t.RequestedBy), steps,
		timestamp(t.CreatedAt), timestamp(t.UpdatedAt), nullTime(t.EndedAt), nullString(t.ConfirmedBy),
		nullString(t.Mode), nullString(t.Summary), nullInt(t.Attempt), attempts,
		t.ReferTo != "", connectMS(t),
	}, nil
}

// connectMS is the statistics' time to connect: whole milliseconds from
// the request to the completion of a completed transfer; NULL otherwise.
func connectMS(t core.Transfer) any {
	if t.Status != core.TransferCompleted || t.EndedAt == nil {
		return nil
	}
	return float64(t.EndedAt.Truncate(time.Millisecond).Sub(t.CreatedAt.Truncate(time.Millisecond)).Milliseconds())
}

// scanTransfer reads a row of transferColumns.
func scanTransfer(row rowScanner) (core.Transfer, error) {
	var (
		t                                     core.Transfer
		referTo, message, reason, requestedBy sql.NullString
		confirmedBy, mode, summary, attempts  sql.NullString
		attempt, sipStatus                    sql.NullInt64
		steps                                 []byte
	)
	if err := row.Scan(&t.ID, &t.CallID, &t.Destination, &t.DestinationType, &referTo, &message,
		&t.Status, &sipStatus, &reason, &requestedBy, &steps, (*timestamp)(&t.CreatedAt),
		(*timestamp)(&t.UpdatedAt), nullTimestamp{&t.EndedAt}, &confirmedBy,
		&mode, &summary, &attempt, &attempts); err != nil {
		return core.Transfer{}, err
	}
	t.ReferTo, t.Message, t.Reason, t.RequestedBy = referTo.String, message.String, reason.String, requestedBy.String
	t.SIPStatus = int(sipStatus.Int64)
	t.ConfirmedBy = confirmedBy.String
	t.Mode, t.Summary, t.Attempt = mode.String, summary.String, int(attempt.Int64)
	if attempts.Valid && attempts.String != "" && attempts.String != "null" {
		if err := json.Unmarshal([]byte(attempts.String), &t.Attempts); err != nil {
			return core.Transfer{}, fmt.Errorf("transfer %s attempts: %w", t.ID, err)
		}
	}
	var err error
	if t.Steps, err = decodeSteps(steps); err != nil {
		return core.Transfer{}, fmt.Errorf("transfer %s: %w", t.ID, err)
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
func decodeSteps(doc []byte) ([]core.TransferStep, error) {
	var recs []stepRecord
	if err := json.Unmarshal(doc, &recs); err != nil {
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
