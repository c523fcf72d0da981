package sqlite

import (
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/voicedock/voicedock/store/storetest"
)

type appliedMigration struct {
	version         int
	name, appliedAt string
}

func appliedMigrations(t *testing.T, db *sql.DB) []appliedMigration {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []appliedMigration
	for rows.Next() {
		var m appliedMigration
		if err := rows.Scan(&m.version, &m.name, &m.appliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "voicedock.db")
	key := storetest.NewKey(t)
	s, err := Open(t.Context(), path, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := appliedMigrations(t, s.read)
	if len(first) == 0 || first[0].version != 1 || first[0].name != "migrations/0001_init.sql" {
		t.Fatalf("applied %+v", first)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, key)
	storetest.MustEqual(t, appliedMigrations(t, s.read), first)
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "voicedock.db")
	key := storetest.NewKey(t)
	s, err := Open(t.Context(), path, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.ExecContext(t.Context(),
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'migrations/0999_future.sql', '')"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), path, key, nil)
	var tooNew *SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Version != 999 || tooNew.Supported < 1 {
		t.Fatalf("got %v, want a SchemaTooNewError for version 999", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testDB opens a bare writer connection the way Open does.
func testDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "m.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrateAppliesOnlyWhatIsNew(t *testing.T) {
	ctx := t.Context()
	db := testDB(t)
	clock := func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }
	v1 := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);")},
	}
	if err := migrate(ctx, db, v1, clock, discardLogger()); err != nil {
		t.Fatal(err)
	}
	v2 := fstest.MapFS{
		"migrations/0001_a.sql": v1["migrations/0001_a.sql"],
		"migrations/0002_b.sql": {Data: []byte("INSERT INTO a VALUES (2);")},
		"migrations/0003_c.sql": {Data: []byte("INSERT INTO a VALUES (3);")},
	}
	for range 2 {
		if err := migrate(ctx, db, v2, clock, discardLogger()); err != nil {
			t.Fatal(err)
		}
	}
	var sum, n int
	if err := db.QueryRowContext(ctx, "SELECT sum(x), count(*) FROM a").Scan(&sum, &n); err != nil {
		t.Fatal(err)
	}
	if sum != 6 || n != 3 {
		t.Errorf("each migration should run once: sum %d of %d rows", sum, n)
	}
	if got := appliedMigrations(t, db); len(got) != 3 || got[2].appliedAt != "2025-01-01T00:00:00.000Z" {
		t.Errorf("applied %+v", got)
	}
	// The binary with only v1 refuses the database now.
	var tooNew *SchemaTooNewError
	if err := migrate(ctx, db, v1, clock, discardLogger()); !errors.As(err, &tooNew) || tooNew.Version != 3 || tooNew.Supported != 1 {
		t.Errorf("got %v", err)
	}
}

func TestFailedMigrationChangesNothing(t *testing.T) {
	ctx := t.Context()
	db := testDB(t)
	bad := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"migrations/0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER); SELECT * FROM nowhere;")},
	}
	if err := migrate(ctx, db, bad, time.Now, discardLogger()); err == nil {
		t.Fatal("a failing migration succeeded")
	}
	if got := appliedMigrations(t, db); len(got) != 1 {
		t.Errorf("applied %+v, want only 0001", got)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'b'").Scan(&n); err != nil || n != 0 {
		t.Errorf("table b exists (%d, %v): the failed migration was not rolled back", n, err)
	}
}

func TestLoadMigrationsRejectsBadSets(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"duplicate": {"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}},
		"bad name":  {"migrations/init.sql": {}},
		"zero":      {"migrations/0000_a.sql": {}},
		"empty":     {},
	} {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	got, err := loadMigrations(fstest.MapFS{"migrations/0002_b.sql": {}, "migrations/0001_a.sql": {}, "migrations/README": {}})
	if err != nil || len(got) != 2 || got[0].version != 1 || got[1].version != 2 {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestEmbeddedMigrationsLoad(t *testing.T) {
	ms, err := loadMigrations(embeddedMigrations)
	if err != nil || len(ms) == 0 {
		t.Fatalf("embedded migrations: %v", err)
	}
}

func TestConcurrentOpensOfANewFile(t *testing.T) {
	// Two processes starting at once on a new database: both open it,
	// and each migration is applied once.
	path := filepath.Join(t.TempDir(), "voicedock.db")
	key := storetest.NewKey(t)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), path, key, nil) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	ms, err := loadMigrations(embeddedMigrations)
	if err != nil {
		t.Fatal(err)
	}
	if got := appliedMigrations(t, stores[0].read); len(got) != len(ms) {
		t.Errorf("applied %+v", got)
	}
}
