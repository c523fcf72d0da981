package sqlrows

import (
	"context"
	"database/sql"
)

// Scanner is what *sql.Row and *sql.Rows have in common.
type Scanner interface {
	Scan(dest ...any) error
}

// QueryAll returns what scan makes of each row query returns in tx.
func QueryAll[T any](ctx context.Context, tx *sql.Tx, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return ScanAll(rows, scan)
}

// ScanAll returns what scan makes of each of rows, and closes rows.
func ScanAll[T any](rows *sql.Rows, scan func(Scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, rows.Err()
}

// NullString stores an unset (empty) string as NULL.
func NullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// NullInt stores an unset (zero) number as NULL.
func NullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}
