package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// refilled is the tokens a bucket holds now: what it held at its last
// request, refilled at $3 tokens a second, at most $2. The time is the
// database's (the nodes' clocks need not agree), never before the last
// request's.
const refilled = "least($2::float8, tokens + greatest(0, extract(epoch FROM now() - at)) * $3::float8)"

// takeTokenSQL takes a token from an existing bucket when it holds one.
// Every SET reads the row as it was, so taken and tokens agree; a
// concurrent request on another node waits for the row and then reads it
// as this one left it.
const takeTokenSQL = `UPDATE rate_limits SET
	tokens = ` + refilled + ` - CASE WHEN ` + refilled + ` >= 1 THEN 1 ELSE 0 END,
	taken = ` + refilled + ` >= 1,
	at = greatest(at, now())
	WHERE client = $1
	RETURNING tokens, taken`

// TakeToken takes a token from client's bucket of the HTTP rate limit,
// which holds at most limit tokens, refills at limit per window and
// starts full; it returns the tokens left and whether one was taken. The
// buckets are shared by every node on the database.
func (s *Store) TakeToken(ctx context.Context, client string, limit int, window time.Duration) (float64, bool, error) {
	if limit < 1 || window <= 0 {
		return 0, false, fmt.Errorf("rate limit %d per %v", limit, window)
	}
	perSecond := float64(limit) / window.Seconds()
	for range 2 {
		var left float64
		var taken bool
		err := s.db.QueryRowContext(ctx, takeTokenSQL, client, float64(limit), perSecond).Scan(&left, &taken)
		if err == nil {
			return left, taken, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, false, fmt.Errorf("take a rate limit token: %w", err)
		}
		// A new bucket starts full: this request takes one of its tokens.
		res, err := s.db.ExecContext(ctx,
			"INSERT INTO rate_limits (client, tokens, at, taken) VALUES ($1, $2, now(), true) ON CONFLICT (client) DO NOTHING",
			client, float64(limit-1))
		if err != nil {
			return 0, false, fmt.Errorf("take a rate limit token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return float64(limit - 1), true, nil
		}
		// Another node made the bucket meanwhile: take from it.
	}
	return 0, false, errors.New("take a rate limit token: the bucket came and went")
}
