package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

var _ core.CallStore = (*Store)(nil)

const callColumns = "id, direction, status, caller_phone, agent_phone, number_id, assistant_id, " +
	"sip_call_id, remote_addr, trunk_id, started_at, ended_at, duration_seconds, end_reason, error, " +
	"created_at, updated_at, first_message"

// CreateCall stores a new call, and the webhook deliveries in out in the
// same transaction; an id already stored is CodeConflict, and then no
// delivery is written either. Only the call's own fields are stored: its
// transfers go through SaveTransfer.
func (s *Store) CreateCall(ctx context.Context, c core.Call, out ...core.WebhookDelivery) error {
	wait, ctx := ctx, statementContext(ctx)
	err := s.inBatchTx(wait, func(tx *sql.Tx) error {
		st, err := s.writeStmts.in(ctx, tx, createCallSQL)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx,
			c.ID, c.Direction, c.Status, sqlrows.NullString(c.CallerPhone), sqlrows.NullString(c.AgentPhone),
			sqlrows.NullString(c.NumberID), sqlrows.NullString(c.AssistantID), sqlrows.NullString(c.SIPCallID),
			sqlrows.NullString(c.RemoteAddr), sqlrows.NullString(c.TrunkID), nullTime(c.StartedAt), nullTime(c.EndedAt),
			sqlrows.NullInt(c.DurationSeconds), sqlrows.NullString(c.EndReason), sqlrows.NullString(c.Error),
			timestamp(c.CreatedAt), timestamp(c.UpdatedAt), sqlrows.NullString(c.FirstMessage), callNode(c))
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
	wait, ctx := ctx, statementContext(ctx)
	err := s.inBatchTx(wait, func(tx *sql.Tx) error {
		if err := s.updateCall(ctx, tx, c); err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, out)
	})
	return wrap(err, "update call %s", c.ID)
}

// updateCall writes c's own fields over the stored call in tx: through
// updateCallKeptSQL when its number and assistant are unchanged, else
// the full statement.
func (s *Store) updateCall(ctx context.Context, tx *sql.Tx, c core.Call) error {
	kept, err := s.writeStmts.in(ctx, tx, updateCallKeptSQL)
	if err != nil {
		return err
	}
	res, err := kept.ExecContext(ctx,
		c.Direction, c.Status, sqlrows.NullString(c.CallerPhone), sqlrows.NullString(c.AgentPhone),
		sqlrows.NullString(c.SIPCallID), sqlrows.NullString(c.RemoteAddr), sqlrows.NullString(c.TrunkID),
		nullTime(c.StartedAt), nullTime(c.EndedAt), sqlrows.NullInt(c.DurationSeconds), sqlrows.NullString(c.EndReason),
		sqlrows.NullString(c.Error), timestamp(c.UpdatedAt), sqlrows.NullString(c.FirstMessage), c.ID,
		sqlrows.NullString(c.NumberID), sqlrows.NullString(c.AssistantID))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("rows affected: %w", err)
	} else if n == 1 {
		return nil
	}
	st, err := s.writeStmts.in(ctx, tx, updateCallSQL)
	if err != nil {
		return err
	}
	res, err = st.ExecContext(ctx,
		c.Direction, c.Status, sqlrows.NullString(c.CallerPhone), sqlrows.NullString(c.AgentPhone), sqlrows.NullString(c.NumberID),
		sqlrows.NullString(c.AssistantID), sqlrows.NullString(c.SIPCallID), sqlrows.NullString(c.RemoteAddr), sqlrows.NullString(c.TrunkID),
		nullTime(c.StartedAt), nullTime(c.EndedAt), sqlrows.NullInt(c.DurationSeconds), sqlrows.NullString(c.EndReason),
		sqlrows.NullString(c.Error), timestamp(c.UpdatedAt), sqlrows.NullString(c.FirstMessage), c.ID)
	if err != nil {
		return err
	}
	return mustAffect(res, "call", c.ID)
}

// GetCall returns the call with its transfers, oldest first, or
// CodeNotFound.
func (s *Store) GetCall(ctx context.Context, id string) (core.Call, error) {
	var c core.Call
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
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
		c.Transfers, err = sqlrows.ScanAll(rows, scanTransfer)
		return err
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
	q := pageQuery{columns: callColumns, from: "calls", order: "id DESC"}
	if f.Status != "" {
		q.from, q.args = "calls WHERE status = ?", []any{f.Status}
	}
	list, total, err := listPage(ctx, s, q, f.Page, scanCall, func(tx *sql.Tx, calls []core.Call) error {
		return attachTransfers(ctx, tx, calls)
	})
	if err != nil {
		return nil, 0, wrap(err, "list calls")
	}
	return list, total, nil
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
	transfers, err := sqlrows.QueryAll(ctx, tx, scanTransfer,
		"SELECT "+transferColumns+" FROM transfers WHERE call_id IN (SELECT value FROM json_each(?))"+
			transfersOldestFirst, string(idList))
	if err != nil {
		return err
	}
	for _, t := range transfers {
		i, ok := index[t.CallID]
		if !ok { // cannot happen: the query asked for these calls only
			return fmt.Errorf("transfer %s of call %s, which is not on the page", t.ID, t.CallID)
		}
		calls[i].Transfers = append(calls[i].Transfers, t)
	}
	return nil
}

// scanCall reads a row of callColumns.
func scanCall(row sqlrows.Scanner) (core.Call, error) {
	var (
		c                                                 core.Call
		caller, agent, number, assistant, sipCallID, addr sql.NullString
		trunk, endReason, callErr, firstMessage           sql.NullString
		duration                                          sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.Direction, &c.Status, &caller, &agent, &number, &assistant,
		&sipCallID, &addr, &trunk, nullTimestamp{&c.StartedAt}, nullTimestamp{&c.EndedAt}, &duration,
		&endReason, &callErr, (*timestamp)(&c.CreatedAt), (*timestamp)(&c.UpdatedAt), &firstMessage); err != nil {
		return core.Call{}, err
	}
	// A NULL column scans as the zero value: the field was unset.
	c.CallerPhone, c.AgentPhone, c.NumberID, c.AssistantID = caller.String, agent.String, number.String, assistant.String
	c.SIPCallID, c.RemoteAddr, c.TrunkID = sipCallID.String, addr.String, trunk.String
	c.DurationSeconds, c.EndReason, c.Error = int(duration.Int64), endReason.String, callErr.String
	c.FirstMessage = firstMessage.String
	return c, nil
}
