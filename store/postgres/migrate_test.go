package postgres_test

import (
	"database/sql"
	"errors"
	"sync"
	"testing"

	"github.com/voicedock/voicedock/store/postgres"
	"github.com/voicedock/voicedock/store/storetest"
)

// TestNodesStartingAtOnceMigrateOnce opens several stores on one new
// database at the same moment, as nodes starting together do: each
// migration is applied once, and every node opens.
func TestNodesStartingAtOnceMigrateOnce(t *testing.T) {
	url := cluster.NewSchema(t)
	key := storetest.NewKey(t)
	const nodes = 6
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	start := make(chan struct{})
	for range nodes {
		wg.Go(func() {
			<-start
			s, err := postgres.Open(t.Context(), url, key, nil)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	db := rawDB(t, url)
	var rows, distinct, latest int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations").
		Scan(&rows, &distinct, &latest); err != nil {
		t.Fatal(err)
	}
	if rows != distinct || rows != latest || latest < 5 {
		t.Errorf("schema_migrations: %d rows, %d versions, newest %d", rows, distinct, latest)
	}
}

// TestNewerSchemaIsRefused: a node older than the database's schema does
// not start on it.
func TestNewerSchemaIsRefused(t *testing.T) {
	url := cluster.NewSchema(t)
	key := storetest.NewKey(t)
	open(t, url, key)
	db := rawDB(t, url)
	if _, err := db.ExecContext(t.Context(), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', now())"); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(t.Context(), url, key, nil)
	var tooNew *postgres.SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Version != 999 {
		t.Fatalf("got %v, want a SchemaTooNewError for 999", err)
	}
}

// TestOpenRefusesBadInput: a key of the wrong size, a URL that is not
// one, and an unreachable server are refused, the URL's password never
// repeated.
func TestOpenRefusesBadInput(t *testing.T) {
	url := cluster.NewSchema(t)
	if _, err := postgres.Open(t.Context(), url, make([]byte, 16), nil); err == nil {
		t.Error("Open accepted a 16-byte key")
	}
	_, err := postgres.Open(t.Context(), "postgres://u:hunter2@[bad", storetest.NewKey(t), nil)
	if err == nil || containsAny(err.Error(), "hunter2") {
		t.Errorf("a bad URL: %v", err)
	}
}

func rawDB(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
