package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The statements of the call and transfer hot path (every step of every
// transfer runs them, and the webhook dispatcher's every round), prepared once when the store opens. modernc's
// driver parses the SQL text again on every Exec of an unprepared query;
// under load that parsing was a tenth of the server's CPU (see
// bench/profiles). Each transaction uses them through Tx.StmtContext,
// which reuses the statement prepared on the transaction's connection.
const (
	createCallSQL = `INSERT INTO calls (` + callColumns + `, node_id)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	updateCallSQL = `UPDATE calls SET direction = ?, status = ?, caller_phone = ?, agent_phone = ?, number_id = ?,
			 assistant_id = ?, sip_call_id = ?, remote_addr = ?, trunk_id = ?, started_at = ?, ended_at = ?,
			 duration_seconds = ?, end_reason = ?, error = ?, updated_at = ?, first_message = ?
			 WHERE id = ?`
	// updateCallKeptSQL is updateCallSQL for a call whose number and
	// assistant are those stored (nearly every update: answered,
	// transferred, ended): SQLite rewrites an index on an UPDATE when a
	// column of it is in the SET list, changed or not, and three of the
	// calls' indexes lead with or hold these two, so leaving them out
	// writes three pages fewer per update.
	updateCallKeptSQL = `UPDATE calls SET direction = ?, status = ?, caller_phone = ?, agent_phone = ?,
			 sip_call_id = ?, remote_addr = ?, trunk_id = ?, started_at = ?, ended_at = ?,
			 duration_seconds = ?, end_reason = ?, error = ?, updated_at = ?, first_message = ?
			 WHERE id = ? AND number_id IS ? AND assistant_id IS ?`
	saveTransferSQL = `INSERT INTO transfers (` + transferColumns + `, attempted, connect_ms,
			     final_status, final_sip_status, final_reason, call_created_at, call_assistant_id, call_number_id)
			 SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, c.created_at, c.assistant_id, c.number_id
			 FROM (SELECT 1) LEFT JOIN calls c ON c.id = ?2
			 WHERE true
			 ON CONFLICT (id) DO UPDATE SET attempted = excluded.attempted, connect_ms = excluded.connect_ms,
			     final_status = excluded.final_status, final_sip_status = excluded.final_sip_status,
			     final_reason = excluded.final_reason,
			     call_created_at = excluded.call_created_at,
			     call_assistant_id = excluded.call_assistant_id, call_number_id = excluded.call_number_id, destination = excluded.destination,
			     destination_type = excluded.destination_type, refer_to = excluded.refer_to,
			     message = excluded.message, status = excluded.status, sip_status = excluded.sip_status,
			     reason = excluded.reason, requested_by = excluded.requested_by, steps = excluded.steps,
			     updated_at = excluded.updated_at, ended_at = excluded.ended_at,
			     confirmed_by = excluded.confirmed_by, mode = excluded.mode, summary = excluded.summary,
			     attempt = excluded.attempt, attempts = excluded.attempts
			 WHERE transfers.call_id = excluded.call_id`
	// saveTransferLiveSQL writes a step of a transfer in flight over the
	// stored row when no column of the statistics indexes (migration 0013)
	// changes: its SET list names none of them, so SQLite leaves those
	// five indexes alone (it rewrites an index whose column is in the SET
	// list, changed or not). The WHERE clause holds what saveTransferSQL
	// would otherwise change in them: the same call, destination and
	// attempted, still not final, and the call's copies as stored in the
	// call. No row matched means saveTransferSQL must write it.
	saveTransferLiveSQL = `UPDATE transfers SET destination_type = ?, refer_to = ?, message = ?, status = ?,
			     sip_status = ?, reason = ?, requested_by = ?, steps = ?, updated_at = ?, ended_at = ?, confirmed_by = ?,
			     mode = ?, summary = ?, attempt = ?, attempts = ?
			 WHERE id = ? AND call_id = ? AND destination = ? AND attempted = ?
			     AND final_status IS NULL AND connect_ms IS NULL
			     AND (call_created_at, call_assistant_id, call_number_id) IS
			         (SELECT created_at, assistant_id, number_id FROM calls WHERE id = transfers.call_id)`
	insertDeliverySQL = `INSERT INTO webhook_deliveries (id, call_id, assistant_id, url, event_type, body, status, attempts,
		     next_attempt_at, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`
	updateDeliverySQL = `UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?,
			 last_error = ?, delivered_at = ?, updated_at = ?
			 WHERE id = ?`
	// claimDeliveriesSQL takes its ids as one JSON array, so that one
	// prepared statement claims any number of deliveries.
	claimDeliveriesSQL = `UPDATE webhook_deliveries SET next_attempt_at = ?, updated_at = ?
			 WHERE id IN (SELECT value FROM json_each(?)) AND status = ` + pendingStatus + `
			 RETURNING id`
	getAssistantSQL = "SELECT " + assistantColumns + " FROM assistants WHERE id = ?"
	getNumberSQL    = "SELECT " + numberColumns + " FROM phone_numbers WHERE id = ?"
	getTrunkSQL     = "SELECT " + trunkColumns + " FROM trunks WHERE id = ?"
	getCallSQL      = "SELECT " + callColumns + " FROM calls WHERE id = ?"
	callTransferSQL = "SELECT " + transferColumns + " FROM transfers WHERE call_id = ?" + transfersOldestFirst
)

// stmts are the prepared statements of one pool, by their SQL.
type stmts map[string]*sql.Stmt

// prepareStmts prepares queries on db. It runs before any transaction
// is open: the writer pool has one connection, which a transaction holds.
func prepareStmts(ctx context.Context, db *sql.DB, queries ...string) (stmts, error) {
	out := stmts{}
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			out.close()
			return nil, fmt.Errorf("prepare statement: %w", err)
		}
		out[q] = st
	}
	return out, nil
}

// in returns the statement of query for use in tx.
func (m stmts) in(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := m[query]; ok {
		return tx.StmtContext(ctx, st), nil
	}
	return nil, fmt.Errorf("statement not prepared: %.40q", query)
}

func (m stmts) close() error {
	var errs []error
	for _, st := range m {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}
