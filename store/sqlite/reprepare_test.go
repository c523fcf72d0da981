package sqlite

import (
	"database/sql"
	"fmt"
	"reflect"
	"testing"
	"time"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/voicedock/voicedock/core"
)

// stmtStatus returns a counter of sqlite3_stmt_status (op) of the
// statements prepared on the one connection of db, by their SQL, and
// resets them. db must hold a single connection: the one the store used.
func stmtStatus(t *testing.T, db *sql.DB, op int32) map[string]int {
	t.Helper()
	c, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string]int{}
	err = c.Raw(func(driverConn any) error {
		// modernc.org/sqlite does not expose its sqlite3* handle; the
		// counters are only reachable through it.
		f := reflect.ValueOf(driverConn).Elem().FieldByName("db")
		if !f.IsValid() || f.Kind() != reflect.Uintptr {
			return fmt.Errorf("no sqlite3 handle in %T", driverConn)
		}
		h := uintptr(f.Uint())
		tls := libc.NewTLS()
		defer tls.Close()
		for st := sqlite3.Xsqlite3_next_stmt(tls, h, 0); st != 0; st = sqlite3.Xsqlite3_next_stmt(tls, h, st) {
			out[libc.GoString(sqlite3.Xsqlite3_sql(tls, st))] += int(sqlite3.Xsqlite3_stmt_status(tls, st, op, 1))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openOneReader is openTemp with one reader connection, whose
// statements stmtStatus reads, and the outbox holding the given numbers
// of delivered and due pending deliveries, 9 per call as a transfer's.
func openOneReader(t *testing.T, delivered, pending int) (*Store, time.Time) {
	s, _ := openTemp(t)
	s.read.SetMaxOpenConns(1)
	ctx := t.Context()
	now := time.Now().UTC()
	var dels []core.WebhookDelivery
	for i := range delivered + pending {
		id, err := core.NewID()
		if err != nil {
			t.Fatal(err)
		}
		dels = append(dels, core.WebhookDelivery{ID: id, CallID: fmt.Sprintf("call-%d", i/9),
			URL: "http://127.0.0.1:1/hook", EventType: core.WebhookStatusUpdate, Body: []byte(`{}`), CreatedAt: now})
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertDeliveries(ctx, tx, dels); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE webhook_deliveries SET status = 'delivered' WHERE id <= ?", dels[max(delivered-1, 0)].ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, now
}

// The due query runs every round with the round's limit: a statement that
// SQLite parses and plans again on every run costs more than the run.
func TestDueQueriesAreNotPreparedAgain(t *testing.T) {
	s, now := openOneReader(t, 0, 50)
	ctx := t.Context()
	for i := range 20 {
		if _, err := s.DueDeliveries(ctx, now.Add(time.Duration(i)*time.Millisecond), 5+i%4); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.NextDueAt(ctx); err != nil {
			t.Fatal(err)
		}
	}
	counts := stmtStatus(t, s.read, sqlite3.SQLITE_STMTSTATUS_REPREPARE)
	for _, q := range []string{dueQuery, nextDueQuery} {
		// The first run may plan the statement again: its parameters
		// were NULL when it was prepared.
		if n, ok := counts[q]; !ok || n > 1 {
			t.Errorf("prepared again %d times in 20 runs (found: %v): %.60q", n, ok, q)
		}
	}
}

// Delivered rows stay in the table: the due queries must not step
// through them.
func TestDueQueriesSkipDeliveredRows(t *testing.T) {
	const delivered, pending = 9000, 18
	s, now := openOneReader(t, delivered, pending)
	ctx := t.Context()
	stmtStatus(t, s.read, sqlite3.SQLITE_STMTSTATUS_VM_STEP) // reset
	due, err := s.DueDeliveries(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != pending/9 {
		t.Fatalf("%d due, want the head of each of the %d calls", len(due), pending/9)
	}
	if _, ok, err := s.NextDueAt(ctx); err != nil || !ok {
		t.Fatalf("next due: %v %v", ok, err)
	}
	steps := stmtStatus(t, s.read, sqlite3.SQLITE_STMTSTATUS_VM_STEP)
	// Nor does an outcome move its row within an index of them all.
	var partial bool
	if err := s.read.QueryRowContext(ctx, `SELECT partial FROM pragma_index_list('webhook_deliveries')
		WHERE name = 'webhook_deliveries_due'`).Scan(&partial); err != nil || !partial {
		t.Errorf("the due index is not of the pending rows only (%v)", err)
	}
	for _, q := range []string{dueQuery, nextDueQuery} {
		// A few dozen steps per pending row; a scan of the delivered
		// ones is tens of thousands.
		if n := steps[q]; n == 0 || n > 100*pending {
			t.Errorf("%d VM steps with %d pending and %d delivered rows: %.60q", n, pending, delivered, q)
		}
	}
}
