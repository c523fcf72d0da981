package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

// pageQuery is a paged listing: the rows of from (a table, and a WHERE
// clause with its args if any) in order, as columns.
type pageQuery struct {
	columns string
	from    string
	args    []any
	order   string
}

// listPage returns page p of q's rows, scanned, and how many rows there
// are in all, read in one snapshot; then, when set, completes the page
// in the same snapshot (a call's transfers).
func listPage[T any](ctx context.Context, s *Store, q pageQuery, p core.Page, scan func(sqlrows.Scanner) (T, error), then func(*sql.Tx, []T) error) ([]T, int, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, 0, err
	}
	list := []T{} // not nil: an empty page is [] in JSON
	var total int
	err = s.inReadTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+q.from, q.args...).Scan(&total); err != nil {
			return err
		}
		page, err := sqlrows.QueryAll(ctx, tx, scan,
			"SELECT "+q.columns+" FROM "+q.from+" ORDER BY "+q.order+" LIMIT ? OFFSET ?",
			append(q.args[:len(q.args):len(q.args)], p.Limit, p.Offset)...)
		if err != nil {
			return err
		}
		list = append(list, page...)
		if then != nil {
			return then(tx, list)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return list, total, nil
}

// getOne returns what scan makes of the row a lookup of the kind's id
// found, or CodeNotFound.
func getOne[T any](row *sql.Row, scan func(sqlrows.Scanner) (T, error), kind, id string) (T, error) {
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, core.NotFound(kind, id)
	}
	if err != nil {
		var zero T
		return zero, wrap(err, "get %s %s", kind, id)
	}
	return v, nil
}
