package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

const transferColumns = "id, call_id, destination, destination_type, refer_to, message, status, " +
	"sip_status, reason, requested_by, steps, created_at, updated_at, ended_at, confirmed_by, " +
	"mode, summary, attempt, attempts"

// transfersOldestFirst orders a call's transfers; the index on transfers
// (call_id, created_at, id) serves it.
const transfersOldestFirst = " ORDER BY call_id, created_at, id"

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
	write := s.inBatchTx
	if t.Status == core.TransferRequested {
		// The attempt's REFER waits for this write: it goes ahead of the
		// other calls' steps and the webhook outcomes (see batcher).
		write = s.inUrgentTx
	}
	wait, ctx := ctx, statementContext(ctx)
	err = write(wait, func(tx *sql.Tx) error {
		if err := s.saveTransfer(ctx, tx, t, args); err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, out)
	})
	return wrap(err, "save transfer %s", t.ID)
}

// saveTransfer writes t, as transferArgs encoded it, in tx. A step in
// flight after the first goes through saveTransferLiveSQL, which leaves
// the statistics indexes alone, when it can.
func (s *Store) saveTransfer(ctx context.Context, tx *sql.Tx, t core.Transfer, args []any) error {
	if t.Status != core.TransferRequested && !t.Final() {
		live, err := s.writeStmts.in(ctx, tx, saveTransferLiveSQL)
		if err != nil {
			return err
		}
		res, err := live.ExecContext(ctx, liveTransferArgs(t, args)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("rows affected: %w", err)
		} else if n == 1 {
			return nil
		}
	}
	st, err := s.writeStmts.in(ctx, tx, saveTransferSQL)
	if err != nil {
		return err
	}
	res, err := st.ExecContext(ctx, args...)
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
		t.ReferTo != "", sqlrows.ConnectMS(t), final(t, t.Status), final(t, sqlrows.NullInt(t.SIPStatus)),
		final(t, sqlrows.NullString(t.Reason)),
	}, nil
}

// final is v for a final transfer, else NULL: the statistics indexes hold
// these final_ columns in place of the live ones (migration 0013).
func final(t core.Transfer, v any) any {
	if !t.Final() {
		return nil
	}
	return v
}

// liveTransferArgs are the arguments of saveTransferLiveSQL, taken from
// transferArgs' args for t.
func liveTransferArgs(t core.Transfer, args []any) []any {
	// destination_type .. steps, then updated_at .. attempts: all but the
	// id, call_id, destination and the creation time, which stays.
	out := append(append(make([]any, 0, 19), args[3:11]...), args[12:19]...)
	return append(out, t.ID, t.CallID, t.Destination, t.ReferTo != "")
}

// scanTransfer reads a row of transferColumns.
func scanTransfer(row sqlrows.Scanner) (core.Transfer, error) {
	var (
		t                                     core.Transfer
		referTo, message, reason, requestedBy sql.NullString
		confirmedBy, mode, summary, attempts  sql.NullString
		attempt, sipStatus                    sql.NullInt64
		steps                                 string
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
	if attempts.Valid && attempts.String != "" {
		if err := json.Unmarshal([]byte(attempts.String), &t.Attempts); err != nil {
			return core.Transfer{}, fmt.Errorf("transfer %s attempts: %w", t.ID, err)
		}
	}
	var err error
	if t.Steps, err = sqlrows.DecodeSteps([]byte(steps)); err != nil {
		return core.Transfer{}, fmt.Errorf("transfer %s: %w", t.ID, err)
	}
	return t, nil
}

// SaveTransferAndCall is SaveTransfer and UpdateCall in one write: a
// transfer's final step and the call's status change it causes are
// stored together, with the webhook deliveries of both, or not at all
// (core.TransferCallSaver).
func (s *Store) SaveTransferAndCall(ctx context.Context, t core.Transfer, c core.Call, out ...core.WebhookDelivery) error {
	args, err := transferArgs(t)
	if err != nil {
		return fmt.Errorf("save transfer %s: %w", t.ID, err)
	}
	wait, ctx := ctx, statementContext(ctx)
	err = s.inBatchTx(wait, func(tx *sql.Tx) error {
		if err := s.saveTransfer(ctx, tx, t, args); err != nil {
			return err
		}
		if err := s.updateCall(ctx, tx, c); err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, out)
	})
	return wrap(err, "save transfer %s with call %s", t.ID, c.ID)
}
