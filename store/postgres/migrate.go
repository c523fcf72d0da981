package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var embeddedMigrations embed.FS

// migrationsDir is the directory of fsys that holds the migrations.
const migrationsDir = "migrations"

// migrationLock is the key of the advisory lock (pg_advisory_lock) that
// serialises migrations: nodes starting at once each take it in turn, and
// the later ones find the work done. Any bigint would do; this one spells
// "vdmigrat" in ASCII, unlikely to be some other program's.
const migrationLock int64 = 0x76646d6967726174

// SchemaTooNewError is returned by Open when the database was migrated by a
// newer VoiceDock than this one.
type SchemaTooNewError struct {
	// Version is the database's schema version, Supported the newest this
	// binary knows.
	Version, Supported int
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this binary supports (%d): run a newer voicedock on every node", e.Version, e.Supported)
}

// migration is one numbered SQL file, NNNN_description.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads fsys's migrations/*.sql in version order; versions
// must run 1, 2, 3, ... without gaps or duplicates.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, migrationsDir+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var out []migration
	for _, name := range names {
		prefix, _, ok := strings.Cut(path.Base(name), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d (versions must be consecutive from 1)", m.name, i+1)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no migrations")
	}
	return out, nil
}

// migrate applies, in order, each migration of fsys that the database has
// not had yet, each in its own transaction together with its row in
// schema_migrations, all under the advisory lock migrationLock held on one
// connection. A database already up to date is left untouched; one with a
// version newer than the newest migration is refused.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, now func() time.Time, logger *slog.Logger) error {
	migrations, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	defer func() {
		// A lock left behind would be released with the connection, but
		// the pool keeps connections: release it now.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock); err != nil {
			logger.WarnContext(ctx, "store: release the migration lock", "err", err)
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // drop the connection, and the lock with it
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	latest := migrations[len(migrations)-1].version
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > latest {
		return &SchemaTooNewError{Version: current, Supported: latest}
	}
	for _, m := range migrations[current:] {
		if err := applyMigration(ctx, conn, m, now); err != nil {
			return err
		}
		logger.InfoContext(ctx, "store migration applied", "version", m.version, "name", m.name)
	}
	return nil
}

// applyMigration applies m and records it, in one transaction.
func applyMigration(ctx context.Context, conn *sql.Conn, m migration, now func() time.Time) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: begin: %w", m.name, err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx,
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
		m.version, m.name, timestamp(now())); err != nil {
		return fmt.Errorf("migration %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return nil
}
