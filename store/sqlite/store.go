package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/secret"
)

// Store is core.Store on an SQLite database file. It is safe for
// concurrent use.
type Store struct {
	// write is the one connection every change goes through, in a
	// transaction that takes the write lock when it begins.
	write *sql.DB
	// read is a pool of read-only connections; in WAL mode they read a
	// consistent snapshot while a write is under way.
	read *sql.DB
	// writeStmts and readStmts are the hot path's prepared statements.
	writeStmts, readStmts stmts
	// batch groups the hot path's writes into shared transactions.
	batch batcher
	// ckpt checkpoints the write-ahead log off the write path.
	ckpt    *checkpointer
	secrets *secret.Sealer
	logger  *slog.Logger
	now     func() time.Time
	// histogramMax overrides smallHistogram in tests (0: the constant).
	histogramMax int
}

var _ core.Store = (*Store)(nil)

// busyTimeout is how long a connection waits for a lock held by another
// connection (or process) before giving up with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Open opens the database at path, creating it if needed, and brings its
// schema up to date. key is the 32-byte key that encrypts secrets (see
// LoadOrCreateKey). A database whose schema is newer than this binary
// knows is refused with a *SchemaTooNewError.
func Open(ctx context.Context, path string, key []byte, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("open store: no database path")
	}
	secrets, err := secret.NewSealer(key)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{secrets: secrets, logger: logger, now: time.Now}

	s.write, err = sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := s.checkWAL(ctx); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	if err := migrate(ctx, s.write, embeddedMigrations, s.now, logger); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}

	s.read, err = sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		s.write.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	s.read.SetMaxOpenConns(readers)
	s.read.SetMaxIdleConns(readers)
	if err := s.read.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	if s.writeStmts, err = prepareStmts(ctx, s.write, createCallSQL, updateCallSQL, updateCallKeptSQL, saveTransferSQL, saveTransferLiveSQL, insertDeliverySQL, updateDeliverySQL,
		claimDeliveriesSQL, claimRoundSQL, nextOfCallSQL); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	if s.readStmts, err = prepareStmts(ctx, s.read, getCallSQL, callTransferSQL,
		getAssistantSQL, getNumberSQL, getTrunkSQL, dueQuery, nextDueQuery); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	s.batch.tenure = leadTenure
	if s.ckpt, err = startCheckpointer(ctx, abs, &s.batch.pause, logger); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	logger.DebugContext(ctx, "store opened", "path", abs, "readers", readers)
	return s, nil
}

// Close closes both connection pools. The last connection to close
// checkpoints the write-ahead log into the database file.
func (s *Store) Close() error {
	var errs []error
	if err := s.ckpt.close(); err != nil {
		errs = append(errs, fmt.Errorf("close store checkpointer: %w", err))
	}
	if err := s.writeStmts.close(); err != nil {
		errs = append(errs, fmt.Errorf("close store statements: %w", err))
	}
	if err := s.readStmts.close(); err != nil {
		errs = append(errs, fmt.Errorf("close store statements: %w", err))
	}
	if s.read != nil {
		if err := s.read.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store readers: %w", err))
		}
	}
	if err := s.write.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store writer: %w", err))
	}
	return errors.Join(errs...)
}

// dsn is the modernc.org/sqlite data source name for the database file at
// the absolute path abs. Every connection waits for locks, enforces foreign
// keys and syncs in WAL's NORMAL mode; the writer begins its transactions
// IMMEDIATE, so that a transaction that reads before it writes cannot fail
// to upgrade its lock, and leaves checkpoints to the checkpointer (see
// checkpoint.go); readers are query-only.
func dsn(abs string, readOnly bool) string {
	return dsnWith(abs, readOnly, busyTimeout)
}

// checkpointDSN is the checkpointer's: a writer's connection that waits
// for locks no longer than checkpointBusy, and begins no transaction.
func checkpointDSN(abs string) string {
	return dsnWith(abs, false, checkpointBusy)
}

func dsnWith(abs string, readOnly bool, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// Readers map the file rather than read(2) it page by page: the
		// statistics scan indexes of millions of entries.
		q.Add("_pragma", "mmap_size(268435456)")
	} else {
		q.Set("_txlock", "immediate")
		q.Add("_pragma", "wal_autocheckpoint(0)")
		// A write opens no file: its statement journal (a batched
		// transaction's statement that may fail alone) is kept in memory,
		// not in a temporary file opened for it. A process out of file
		// descriptors (the calls' RTP sockets and the agents' connections
		// took them) failed its writes with "unable to open database file"
		// and lost its calls' steps; writes' journals are a few pages.
		// Readers keep SQLite's default: a statistics query's sort may
		// need far more than the memory budget has to give it.
		q.Add("_pragma", "temp_store(MEMORY)")
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	if !strings.HasPrefix(u.Path, "/") { // a Windows path: file:/C:/...
		u.Path = "/" + u.Path
	}
	return u.String()
}

// checkWAL opens the writer's connection and confirms the journal mode:
// a file system that cannot hold a WAL would silently lose the concurrency
// the store relies on.
//
// Switching a new file to WAL takes an exclusive lock that SQLite does not
// wait for through busy_timeout, so a second process opening the same new
// file at that moment gets SQLITE_BUSY at once: that is retried, bounded.
func (s *Store) checkWAL(ctx context.Context) error {
	var mode string
	var err error
	for attempt := 0; ; attempt++ {
		err = s.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
		if err == nil || attempt == 50 || !strings.Contains(err.Error(), "SQLITE_BUSY") {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read journal mode: %w", ctx.Err())
		case <-time.After(time.Duration(10+attempt*10) * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL: is the database on a file system without shared memory?", mode)
	}
	return nil
}

// inTx runs fn in a write transaction and commits it; any error rolls the
// whole change back.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
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

// inReadTx runs fn in a read transaction on the reader pool, so that the
// queries it makes see one snapshot.
func (s *Store) inReadTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
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

// sqliteCode returns the extended result code of an SQLite error, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// exists reports whether table has a row with the given id.
func exists(ctx context.Context, tx *sql.Tx, table, id string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE id = ?", id).Scan(&one)
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
