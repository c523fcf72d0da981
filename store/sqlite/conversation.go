package sqlite

import (
	"context"
	"database/sql"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

var _ core.ConversationStore = (*Store)(nil)

// AddTranscriptLine stores a line of a call's conversation, and the
// webhook deliveries in out in the same transaction.
func (s *Store) AddTranscriptLine(ctx context.Context, l core.TranscriptLine, out ...core.WebhookDelivery) error {
	err := s.inBatchTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO transcript_lines (id, call_id, role, content, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)`,
			l.ID, l.CallID, l.Role, l.Content, sqlrows.FormatTime(l.StartedAt), sqlrows.FormatTime(l.EndedAt))
		if err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, out)
	})
	return wrap(err, "add transcript line to call %s", l.CallID)
}

// AddDigit stores a key press, and the webhook deliveries in out in the
// same transaction.
func (s *Store) AddDigit(ctx context.Context, d core.Digit, out ...core.WebhookDelivery) error {
	err := s.inBatchTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO digits (id, call_id, digit, source, at) VALUES (?, ?, ?, ?, ?)`,
			d.ID, d.CallID, d.Digit, d.Source, sqlrows.FormatTime(d.At))
		if err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, out)
	})
	return wrap(err, "add digit to call %s", d.CallID)
}

// ListTranscript returns a page of a call's lines, oldest first (ids are
// time-ordered), and how many it has.
func (s *Store) ListTranscript(ctx context.Context, callID string, p core.Page) ([]core.TranscriptLine, int, error) {
	var list []core.TranscriptLine
	var total int
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM transcript_lines WHERE call_id = ?`, callID).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT id, call_id, role, content, started_at, ended_at FROM transcript_lines
			 WHERE call_id = ? ORDER BY call_id, id LIMIT ? OFFSET ?`, callID, p.Limit, p.Offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l core.TranscriptLine
			var start, end string
			if err := rows.Scan(&l.ID, &l.CallID, &l.Role, &l.Content, &start, &end); err != nil {
				return err
			}
			if l.StartedAt, err = sqlrows.ParseTime(start); err != nil {
				return err
			}
			if l.EndedAt, err = sqlrows.ParseTime(end); err != nil {
				return err
			}
			list = append(list, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, wrap(err, "list transcript of call %s", callID)
	}
	return list, total, nil
}

// ListDigits returns a call's key presses, oldest first, at most limit.
func (s *Store) ListDigits(ctx context.Context, callID string, limit int) ([]core.Digit, error) {
	var list []core.Digit
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx,
			`SELECT id, call_id, digit, source, at FROM digits WHERE call_id = ? ORDER BY call_id, id LIMIT ?`, callID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d core.Digit
			var at string
			if err := rows.Scan(&d.ID, &d.CallID, &d.Digit, &d.Source, &at); err != nil {
				return err
			}
			if d.At, err = sqlrows.ParseTime(at); err != nil {
				return err
			}
			list = append(list, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(err, "list digits of call %s", callID)
	}
	return list, nil
}
