package postgres_test

import (
	"database/sql"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the suite's direct queries

	"github.com/voicedock/voicedock/store/postgres"
	"github.com/voicedock/voicedock/store/postgres/pgtest"
	"github.com/voicedock/voicedock/store/storetest"
)

// cluster is the test binary's own PostgreSQL server.
var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }

// newDatabase returns the URL of a new, empty database.
func newDatabase(t testing.TB) string {
	t.Helper()
	return cluster.NewDatabase(t)
}

// open opens a store on the database at url with key, closed when the
// test ends.
func open(t testing.TB, url string, key []byte) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url, key, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// TestStore runs the stores' shared suite on PostgreSQL, a new schema for
// each case.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		url := cluster.NewSchema(t)
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return storetest.Backend{
			Open: func(t testing.TB, key []byte) (storetest.Store, error) {
				return postgres.Open(t.Context(), url, key, nil)
			},
			DB: db,
		}
	})
}
