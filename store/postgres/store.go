package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/secret"
)

// Store is the core's store on a PostgreSQL database. It is safe for
// concurrent use, and several Stores (one per node) may share a database.
//
// It goes through database/sql with pgx's driver (pgx/v5/stdlib) rather
// than pgxpool: its queries, scans and NULL handling then keep the shape
// of the SQLite store's (*sql.Tx, sql.Null*), which the two stores'
// shared test suite holds to the same behaviour. Where pgx's own API is
// needed (LISTEN, which holds one connection for itself) it uses a
// pgx.Conn of its own.
//
// The SQLite store commits its hot-path writes in groups (group commit)
// because SQLite has one writer and each commit is a file sync. PostgreSQL
// runs transactions from many connections at once and commits them
// together in its WAL itself, so each change here is simply one
// transaction of its own on a pooled connection.
type Store struct {
	db      *sql.DB
	config  *pgx.ConnConfig // for the LISTEN connection
	secrets *secret.Sealer
	logger  *slog.Logger
	now     func() time.Time
}

var (
	_ core.Store             = (*Store)(nil)
	_ core.CallStore         = (*Store)(nil)
	_ core.DeliveryStore     = (*Store)(nil)
	_ core.ConversationStore = (*Store)(nil)
	_ core.StatsStore        = (*Store)(nil)
	_ core.TaskRecords       = (*Store)(nil)
	_ core.ConfigChanges     = (*Store)(nil)
)

// maxConns bounds each node's connections: PostgreSQL's default limit is
// 100 for all the nodes together.
const maxConns = 20

// Open connects to the database at url (postgres://...), brings its
// schema up to date and returns the store. key is the 32-byte key that
// seals secrets; every node sharing the database needs the same one. A
// database whose schema is newer than this binary knows is refused with
// a *SchemaTooNewError.
func Open(ctx context.Context, url string, key []byte, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	secrets, err := secret.NewSealer(key)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	config, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's error repeats the URL, password included: say less.
		return nil, errors.New("open store: VOICEDOCK_DATABASE_URL is not a valid PostgreSQL URL")
	}
	s := &Store{config: config, secrets: secrets, logger: logger, now: time.Now}
	s.db = stdlib.OpenDB(*config)
	s.db.SetMaxOpenConns(maxConns)
	s.db.SetMaxIdleConns(maxConns)
	s.db.SetConnMaxIdleTime(5 * time.Minute)
	where := fmt.Sprintf("%s:%d/%s", config.Host, config.Port, config.Database)
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	if err := migrate(ctx, s.db, embeddedMigrations, s.now, logger); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	logger.DebugContext(ctx, "store opened", "database", where)
	return s, nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction (READ COMMITTED) and commits it; any
// error rolls the whole change back.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			s.logger.ErrorContext(ctx, "store rollback failed", "err", rbErr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// inReadTx runs fn in a read-only REPEATABLE READ transaction, so that
// the queries it makes see one snapshot.
func (s *Store) inReadTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to undo
	return fn(tx)
}

// wrap adds context to an unexpected error; a *core.Error, whose code and
// message are meant for the client, passes unchanged.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// SQLSTATE codes the store turns into client-facing errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// pgError returns the PostgreSQL error in err's chain, or nil.
func pgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

func isCode(err error, code string) bool {
	pe := pgError(err)
	return pe != nil && pe.Code == code
}

func isUniqueViolation(err error) bool { return isCode(err, uniqueViolation) }

// exists reports whether table has a row with the given id.
func exists(ctx context.Context, tx *sql.Tx, table, id string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE id = $1", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up %s %s: %w", table, id, err)
	}
	return true, nil
}

// mustAffect turns an UPDATE or DELETE that matched no row into CodeNotFound.
func mustAffect(res sql.Result, kind, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n == 0 {
		return core.NotFound(kind, id)
	}
	return nil
}
