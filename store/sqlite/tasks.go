package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

// SaveTaskRecord inserts or replaces the record of r.ID.
func (s *Store) SaveTaskRecord(ctx context.Context, r core.TaskRecord) error {
	var result any
	if len(r.Result) > 0 {
		result = string(r.Result)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO tasks (id, owner, tool, call_id, transfer_id, created_at, ttl_ms, status, result, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT (id) DO UPDATE SET call_id = excluded.call_id, transfer_id = excluded.transfer_id,
			   status = excluded.status, result = excluded.result, updated_at = excluded.updated_at`,
			r.ID, r.Owner, r.Tool, r.CallID, r.TransferID, timestamp(r.CreatedAt), r.TTL.Milliseconds(),
			r.Status, result, timestamp(r.UpdatedAt))
		return err
	})
	return wrap(err, "save task %s", r.ID)
}

// TaskRecord returns the record of the task id, or CodeNotFound.
func (s *Store) TaskRecord(ctx context.Context, id string) (core.TaskRecord, error) {
	row := s.read.QueryRowContext(ctx,
		`SELECT id, owner, tool, call_id, transfer_id, created_at, ttl_ms, status, result, updated_at FROM tasks WHERE id = ?`, id)
	return getOne(row, func(r sqlrows.Scanner) (core.TaskRecord, error) {
		var t core.TaskRecord
		var ttl int64
		var result sql.NullString
		err := r.Scan(&t.ID, &t.Owner, &t.Tool, &t.CallID, &t.TransferID, (*timestamp)(&t.CreatedAt), &ttl,
			&t.Status, &result, (*timestamp)(&t.UpdatedAt))
		t.TTL = time.Duration(ttl) * time.Millisecond
		if result.Valid {
			t.Result = []byte(result.String)
		}
		return t, err
	}, "task", id)
}
