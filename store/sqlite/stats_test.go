package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
	"github.com/voicedock/voicedock/store/storetest"
)

// TestTransferStatsIndexWalk runs the suite's statistics case with the
// percentiles read by walking the connect-time index; the suite's own
// run (TestStore) reads them from a histogram.
func TestTransferStatsIndexWalk(t *testing.T) {
	s, _ := openTemp(t)
	s.histogramMax = 1
	storetest.TransferStats(t, s)
}

// BenchmarkTransferStats seeds a real SQLite file with a million calls
// over 90 days (40% with a transfer: 80% completed, 12% busy, 8% declined)
// and times transfer_stats over all of them, ungrouped and grouped. The
// seed takes a while, so it runs only with -bench.
func BenchmarkTransferStats(b *testing.B) {
	const calls = 1_000_000
	ctx := context.Background()
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	// STATS_BENCH_DB keeps the seeded file between runs (it is seeded
	// when it does not exist yet).
	path := os.Getenv("STATS_BENCH_DB")
	seeded := false
	if path == "" {
		path = filepath.Join(b.TempDir(), "stats.db")
	} else if _, err := os.Stat(path); err == nil {
		seeded = true
	}
	s := openAt(b, path, make([]byte, 32))
	if !seeded {
		seedStart := time.Now()
		if err := seedStats(ctx, s.write, calls, start); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d calls in %s", calls, time.Since(seedStart).Round(time.Millisecond))
	}
	until := start.Add(91 * 24 * time.Hour)
	for _, g := range []string{"", core.GroupByDay, core.GroupByAssistant, core.GroupByDestination} {
		b.Run("group_by="+g, func(b *testing.B) {
			q := core.StatsQuery{Since: start, Until: until, GroupBy: g}
			for b.Loop() {
				r, err := s.TransferStats(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				// About 40% of the calls have a transfer, 80% of them completed.
				if tot := r.Totals; tot.Calls != calls || tot.TransfersAttempted < calls*38/100 || tot.TransfersAttempted > calls*42/100 ||
					tot.TransfersCompleted < tot.TransfersAttempted*3/4 || tot.ConnectTimeP95MS == nil || len(tot.FailuresByStatus) != 2 {
					b.Fatalf("totals = %+v", tot)
				}
			}
		})
	}
	b.Run("assistant_last_7_days", func(b *testing.B) {
		q := core.StatsQuery{AssistantID: "assistant-3", Since: until.Add(-7 * 24 * time.Hour), Until: until, GroupBy: core.GroupByDay}
		for b.Loop() {
			if _, err := s.TransferStats(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// seedStats writes n calls and their transfers in one transaction through
// prepared statements.
func seedStats(ctx context.Context, db *sql.DB, n int, start time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	callStmt, err := tx.PrepareContext(ctx, `INSERT INTO calls (id, direction, status, assistant_id, number_id, created_at, updated_at)
		VALUES (?, 'inbound', 'ended', ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	// The columns SaveTransfer fills for the statistics are set as it
	// sets them.
	trStmt, err := tx.PrepareContext(ctx, `INSERT INTO transfers (id, call_id, destination, destination_type, refer_to, status,
		sip_status, reason, steps, created_at, updated_at, ended_at, attempted, connect_ms, call_created_at, call_assistant_id, call_number_id,
		final_status, final_sip_status, final_reason)
		VALUES (?, ?, ?, 'number', ?, ?, ?, ?, '[]', ?, ?, ?, 1, ?, ?, ?, ?, ?5, ?6, ?7)`)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	step := 91 * 24 * time.Hour / time.Duration(n)
	for i := range n {
		at := start.Add(time.Duration(i) * step)
		id := fmt.Sprintf("call-%08d", i)
		ts := sqlrows.FormatTime(at)
		assistant, number := fmt.Sprintf("assistant-%d", i%10), fmt.Sprintf("number-%d", i%20)
		if _, err := callStmt.ExecContext(ctx, id, assistant, number, ts, ts); err != nil {
			return err
		}
		if rng.IntN(10) >= 4 {
			continue
		}
		dest := fmt.Sprintf("+3120%07d", rng.IntN(50))
		status, sipStatus, reason := core.TransferCompleted, 200, ""
		switch p := rng.IntN(100); {
		case p >= 92:
			status, sipStatus, reason = core.TransferFailed, 603, "the far side declined"
		case p >= 80:
			status, sipStatus, reason = core.TransferFailed, 486, "busy"
		}
		tAt := at.Add(time.Minute)
		took := time.Duration(500+rng.IntN(20000)) * time.Millisecond
		end := sqlrows.FormatTime(tAt.Add(took))
		var connect any
		if status == core.TransferCompleted {
			connect = float64(took.Milliseconds())
		}
		if _, err := trStmt.ExecContext(ctx, "tr-"+id, id, dest, "sip:"+dest+"@pbx", status, sipStatus, reason,
			sqlrows.FormatTime(tAt), end, end, connect, ts, assistant, number); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// TestStatsMigrationBackfills: transfers stored before migration 0008 get
// their statistics columns from their calls, and those of 0013 from
// their own status.
func TestStatsMigrationBackfills(t *testing.T) {
	ctx := t.Context()
	db := testDB(t)
	before := fstest.MapFS{}
	names, err := fs.Glob(embeddedMigrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "0008_") {
			break
		}
		b, _ := fs.ReadFile(embeddedMigrations, name)
		before[name] = &fstest.MapFile{Data: b}
	}
	if err := migrate(ctx, db, before, time.Now, discardLogger()); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO calls (id, direction, status, assistant_id, number_id, created_at, updated_at)
		 VALUES ('c1', 'inbound', 'ended', 'A', 'N', '2026-11-20T10:00:00.000Z', '2026-11-20T10:00:00.000Z')`,
		`INSERT INTO transfers (id, call_id, destination, destination_type, refer_to, status, sip_status, steps, created_at, updated_at, ended_at)
		 VALUES ('t1', 'c1', '+31201111111', 'number', 'sip:x@y', 'completed', 200, '[]', '2026-11-20T10:01:00.000Z', '2026-11-20T10:01:02.500Z', '2026-11-20T10:01:02.500Z'),
		        ('t2', 'c1', '+31201111111', 'number', NULL, 'failed', NULL, '[]', '2026-11-20T10:02:00.000Z', '2026-11-20T10:02:00.000Z', '2026-11-20T10:02:00.000Z'),
		        ('t3', 'c1', '+31201111111', 'number', 'sip:x@y', 'ringing', 180, '[]', '2026-11-20T10:03:00.000Z', '2026-11-20T10:03:00.000Z', NULL)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := migrate(ctx, db, embeddedMigrations, time.Now, discardLogger()); err != nil {
		t.Fatal(err)
	}
	var created, assistant, number string
	var attempted int
	var ms sql.NullFloat64
	err = db.QueryRowContext(ctx, `SELECT call_created_at, call_assistant_id, call_number_id, attempted, connect_ms FROM transfers WHERE id = 't1'`).
		Scan(&created, &assistant, &number, &attempted, &ms)
	if err != nil || created != "2026-11-20T10:00:00.000Z" || assistant != "A" || number != "N" || attempted != 1 || ms.Float64 != 2500 {
		t.Errorf("t1 after the migration: %v %q %q %q %d %v", err, created, assistant, number, attempted, ms)
	}
	if err := db.QueryRowContext(ctx, `SELECT attempted, connect_ms FROM transfers WHERE id = 't2'`).Scan(&attempted, &ms); err != nil || attempted != 0 || ms.Valid {
		t.Errorf("t2 after the migration: %v %d %v", err, attempted, ms)
	}
	// Migration 0013: the final columns of the final transfers only.
	for id, want := range map[string]string{"t1": "completed 200", "t2": "failed 0", "t3": " 0"} {
		var got string
		err := db.QueryRowContext(ctx, `SELECT coalesce(final_status, '') || ' ' || coalesce(final_sip_status, 0) FROM transfers WHERE id = ?`, id).Scan(&got)
		if err != nil || got != want {
			t.Errorf("%s final columns after the migration: %v %q, want %q", id, err, got, want)
		}
	}
}
