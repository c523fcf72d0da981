package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
	"github.com/voicedock/voicedock/store/storetest"
)

func TestDeliveryQueriesUseIndexes(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	listQuery := func(f core.DeliveryFilter) string {
		where, args := deliveryFilter(f)
		q := "SELECT " + deliveryColumns + " FROM webhook_deliveries" + where + " ORDER BY id DESC LIMIT 5"
		for _, a := range args {
			q = strings.Replace(q, "?", "'"+a.(string)+"'", 1)
		}
		return q
	}
	for _, q := range []struct{ name, sql, index string }{
		{"due", strings.Replace(strings.Replace(dueQuery, "?", "''", 1), "?", "5", 1), "webhook_deliveries_due"},
		{"next due", nextDueQuery, "webhook_deliveries_due"},
		{"list", listQuery(core.DeliveryFilter{}), "sqlite_autoindex_webhook_deliveries_1"},
		{"list by call", listQuery(core.DeliveryFilter{CallID: "x"}), "webhook_deliveries_call_id"},
		{"list by status", listQuery(core.DeliveryFilter{Status: "dead"}), "webhook_deliveries_status_id"},
		{"list by both", listQuery(core.DeliveryFilter{CallID: "x", Status: "dead"}), "webhook_deliveries_call_id"},
	} {
		rows, err := s.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.sql)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if len(plan) == 0 || !strings.Contains(plan[0]+" ", "INDEX "+q.index+" ") {
			t.Errorf("%s: not on %s: %s", q.name, q.index, joined)
		}
		if strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("%s: sorts: %s", q.name, joined)
		}
		if strings.Contains(q.sql, "NOT EXISTS") && !strings.Contains(joined, "INDEX webhook_deliveries_pending_call (call_id=? AND url=? AND id<?)") {
			t.Errorf("%s: the order probe is not one seek: %s", q.name, joined)
		}
	}
}

func TestMigrationFromVersion2KeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "voicedock.db")

	// A database as the previous release left it: 0001 and 0002, a call
	// with a transfer in it.
	v2 := fstest.MapFS{}
	for _, name := range []string{"migrations/0001_init.sql", "migrations/0002_calls.sql"} {
		b, err := fs.ReadFile(embeddedMigrations, name)
		if err != nil {
			t.Fatal(err)
		}
		v2[name] = &fstest.MapFile{Data: b}
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db, v2, time.Now, discardLogger()); err != nil {
		t.Fatal(err)
	}
	c := storetest.CallFixture(t, core.CallEnded)
	tr := storetest.TransferFixture(t, c.ID, core.TransferCompleted)
	steps, err := sqlrows.EncodeSteps(tr.Steps)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		// The columns of calls as migration 2 made them.
		{"INSERT INTO calls (id, direction, status, caller_phone, agent_phone, number_id, assistant_id, " +
			"sip_call_id, remote_addr, trunk_id, started_at, ended_at, duration_seconds, end_reason, error, " +
			"created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			[]any{c.ID, c.Direction, c.Status, c.CallerPhone, c.AgentPhone, c.NumberID, c.AssistantID, c.SIPCallID,
				c.RemoteAddr, c.TrunkID, sqlrows.FormatTime(*c.StartedAt), sqlrows.FormatTime(*c.EndedAt), c.DurationSeconds,
				c.EndReason, c.Error, sqlrows.FormatTime(c.CreatedAt), sqlrows.FormatTime(c.UpdatedAt)}},
		{"INSERT INTO transfers (id, call_id, destination, destination_type, refer_to, message, status, " +
			"sip_status, reason, requested_by, steps, created_at, updated_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			[]any{tr.ID, tr.CallID, tr.Destination, tr.DestinationType, tr.ReferTo, tr.Message, tr.Status,
				tr.SIPStatus, tr.Reason, tr.RequestedBy, steps, sqlrows.FormatTime(tr.CreatedAt), sqlrows.FormatTime(tr.UpdatedAt),
				sqlrows.FormatTime(*tr.EndedAt)}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	applied := appliedMigrations(t, db)
	if len(applied) != 2 {
		t.Fatalf("version 2 database has %+v", applied)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, path, storetest.NewKey(t))
	got := appliedMigrations(t, s.read)
	if len(got) < 3 || got[0] != applied[0] || got[1] != applied[1] ||
		got[2].version != 3 || got[2].name != "migrations/0003_webhook_deliveries.sql" {
		t.Fatalf("applied %+v", got)
	}
	want := c
	want.Transfers = []core.Transfer{tr}
	storetest.MustEqual(t, storetest.GetCall(t, s, c.ID), want)

	// The outbox works on the upgraded file.
	c.Status = core.CallFailed
	d := storetest.DeliveryFixture(t, c.ID, "https://a.example.com/hook", storetest.Now())
	if err := s.UpdateCall(ctx, c, d); err != nil {
		t.Fatal(err)
	}
	storetest.MustEqual(t, storetest.GetDelivery(t, s, d.ID), d)
	storetest.MustEqual(t, storetest.DueIDs(t, s, storetest.Now(), 10), []string{d.ID})
}

// The body is checked once, by the table's CHECK; its failure still says
// what is wrong.
func TestDeliveryBodyThatIsNotJSONIsNamed(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	d := storetest.DeliveryFixture(t, "", "http://127.0.0.1:1/hook", time.Now())
	d.Body = []byte(`{"truncated":`)
	err := s.inTx(ctx, func(tx *sql.Tx) error { return s.insertDeliveries(ctx, tx, []core.WebhookDelivery{d}) })
	if err == nil || !strings.Contains(err.Error(), "body is not JSON") {
		t.Errorf("err %v", err)
	}
}
