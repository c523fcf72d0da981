package postgres

import (
	"context"
	"database/sql"

	"github.com/voicedock/voicedock/core"
)

var _ core.ConversationStore = (*Store)(nil)

// AddTranscriptLine stores a line of a call's conversation, and the
// webhook deliveries in out in the same transaction.
func (s *Store) AddTranscriptLine(ctx context.Context, l core.TranscriptLine, out ...core.WebhookDelivery) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO transcript_lines (id, call_id, role, content, started_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			l.ID, l.CallID, l.Role, l.Content, timestamp(l.StartedAt), timestamp(l.EndedAt))
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO digits (id, call_id, digit, source, at) VALUES ($1, $2, $3, $4, $5)`,
			d.ID, d.CallID, d.Digit, d.Source, timestamp(d.At))
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
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM transcript_lines WHERE call_id = $1`, callID).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT id, call_id, role, content, started_at, ended_at FROM transcript_lines
			 WHERE call_id = $1 ORDER BY call_id, id LIMIT $2 OFFSET $3`, callID, p.Limit, p.Offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l core.TranscriptLine
			if err := rows.Scan(&l.ID, &l.CallID, &l.Role, &l.Content, (*timestamp)(&l.StartedAt), (*timestamp)(&l.EndedAt)); err != nil {
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
			`SELECT id, call_id, digit, source, at FROM digits WHERE call_id = $1 ORDER BY call_id, id LIMIT $2`, callID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d core.Digit
			if err := rows.Scan(&d.ID, &d.CallID, &d.Digit, &d.Source, (*timestamp)(&d.At)); err != nil {
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
