package sqlite

import (
	"context"
	"database/sql"
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

// SchemaTooNewError is returned by Open when the database was migrated by a
// newer VoiceDock than this one.
type SchemaTooNewError struct {
	// Version is the database's schema version, Supported the newest this
	// binary knows.
	Version, Supported int
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this binary supports (%d): run a newer voicedock, or restore a backup made before the upgrade", e.Version, e.Supported)
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
// schema_migrations. A database already up to date is left untouched; one
// with a version newer than the newest migration is refused.
//
// db must begin its transactions IMMEDIATE (the writer does), so that two
// processes opening the same file at once apply each migration once: the
// second waits for the first and then sees the version recorded.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, now func() time.Time, logger *slog.Logger) error {
	migrations, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	latest := migrations[len(migrations)-1].version
	for _, m := range migrations {
		applied, err := applyMigration(ctx, db, m, latest, now)
		if err != nil {
			return err
		}
		if applied {
			logger.InfoContext(ctx, "store migration applied", "version", m.version, "name", m.name)
		}
	}
	return nil
}

// applyMigration applies m unless the database already has it, and
// reports whether it did.
func applyMigration(ctx context.Context, db *sql.DB, m migration, latest int, now func() time.Time) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migration %s: begin: %w", m.name, err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	) STRICT`); err != nil {
		return false, fmt.Errorf("create schema_migrations: %w", err)
	}
	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return false, err
	}
	if current > latest {
		return false, &SchemaTooNewError{Version: current, Supported: latest}
	}
	if current >= m.version {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx,
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, m.name, timestamp(now())); err != nil {
		return false, fmt.Errorf("migration %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return true, nil
}

// schemaVersion is the newest migration the database has had, 0 for none.
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
