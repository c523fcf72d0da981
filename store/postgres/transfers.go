package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
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

// SaveTransferAndCall is SaveTransfer and UpdateCall in one transaction:
// a transfer's final step and the call's status change it causes are
// stored together, with the webhook deliveries of both, or not at all
// (core.TransferCallSaver), as the SQLite store does.
func (s *Store) SaveTransferAndCall(ctx context.Context, t core.Transfer, c core.Call, out ...core.WebhookDelivery) error {
	args, err := transferArgs(t)
	if err != nil {
		return fmt.Errorf("save transfer %s: %w", t.ID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := saveTransfer(ctx, tx, t, args); err != nil {
			return err
		}
		if err := updateCall(ctx, tx, c); err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, out)
	})
	return wrap(err, "save transfer %s with call %s", t.ID, c.ID)
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
	steps, err := sqlrows.EncodeSteps(t.Steps)
	if err != nil {
		return nil, err
	}
	attempts, err := sqlrows.EncodeAttempts(t.Attempts)
	if err != nil {
		return nil, err
	}
	return []any{
		t.ID, t.CallID, t.Destination, t.DestinationType, sqlrows.NullString(t.ReferTo), sqlrows.NullString(t.Message),
		t.Status, sqlrows.NullInt(t.SIPStatus), sqlrows.NullString(t.Reason), sqlrows.NullString(t.RequestedBy), steps,
		timestamp(t.CreatedAt), timestamp(t.UpdatedAt), nullTime(t.EndedAt), sqlrows.NullString(t.ConfirmedBy),
		sqlrows.NullString(t.Mode), sqlrows.NullString(t.Summary), sqlrows.NullInt(t.Attempt), attempts,
		t.ReferTo != "", sqlrows.ConnectMS(t),
	}, nil
}

// scanTransfer reads a row of transferColumns.
func scanTransfer(row sqlrows.Scanner) (core.Transfer, error) {
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
	if t.Steps, err = sqlrows.DecodeSteps(steps); err != nil {
		return core.Transfer{}, fmt.Errorf("transfer %s: %w", t.ID, err)
	}
	return t, nil
}
