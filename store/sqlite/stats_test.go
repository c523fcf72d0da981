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
)

// statsTransfer is a final transfer of callID created at start and ended
// after d.
func statsTransfer(t testing.TB, callID, dest, status string, sipStatus int, reason string, start time.Time, d time.Duration) core.Transfer {
	tr := core.Transfer{
		ID: newID(t), CallID: callID, Destination: dest, DestinationType: core.DestinationNumber,
		ReferTo: "sip:" + dest + "@pbx.example.com", Status: status, SIPStatus: sipStatus, Reason: reason,
		Steps:     []core.TransferStep{{Status: core.TransferRequested, At: start}},
		CreatedAt: start, UpdatedAt: start.Add(d), EndedAt: ptr(start.Add(d)),
	}
	return tr
}

func TestTransferStats(t *testing.T) {
	// Both ways to the percentiles: a histogram, and the index walk.
	for _, histMax := range []int{0, 1} {
		t.Run(fmt.Sprintf("histogramMax=%d", histMax), func(t *testing.T) {
			s, _ := openTemp(t)
			s.histogramMax = histMax
			testTransferStats(t, s)
		})
	}
}

func testTransferStats(t *testing.T, s *Store) {
	ctx := t.Context()
	day1 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	mk := func(assistant, number string, at time.Time) core.Call {
		c := core.Call{ID: newID(t), Direction: core.DirectionInbound, Status: core.CallEnded,
			AssistantID: assistant, NumberID: number, CreatedAt: at, UpdatedAt: at}
		createCalls(t, s, c)
		return c
	}
	save := func(tr core.Transfer) {
		if err := s.SaveTransfer(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	// Assistant A, day 1: three calls; two completed transfers (1 s and
	// 3 s to connect), one busy.
	a1 := mk("A", "N1", day1)
	save(statsTransfer(t, a1.ID, "+31201111111", core.TransferCompleted, 200, "", day1, time.Second))
	a2 := mk("A", "N1", day1.Add(time.Hour))
	save(statsTransfer(t, a2.ID, "+31202222222", core.TransferFailed, 486, "busy", day1.Add(time.Hour), 2*time.Second))
	save(statsTransfer(t, a2.ID, "+31201111111", core.TransferCompleted, 200, "", day1.Add(time.Hour), 3*time.Second))
	mk("A", "N1", day1.Add(2*time.Hour))
	// Assistant B, day 2: one call with a rejected REFER and a refusal by
	// policy (no REFER: not an attempt).
	b1 := mk("B", "N2", day2)
	save(statsTransfer(t, b1.ID, "+31202222222", core.TransferFailed, 603, "declined", day2, time.Second))
	refused := statsTransfer(t, b1.ID, "+31203333333", core.TransferFailed, 0, "not allowed", day2, 0)
	refused.ReferTo = ""
	save(refused)
	// Outside the period.
	old := mk("A", "N1", day1.Add(-72*time.Hour))
	save(statsTransfer(t, old.ID, "+31201111111", core.TransferCompleted, 200, "", day1.Add(-72*time.Hour), time.Second))

	q := core.StatsQuery{Since: day1.Add(-time.Hour), Until: day2.Add(time.Hour), GroupBy: core.GroupByDay}
	r, err := s.TransferStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	tot := r.Totals
	if tot.Calls != 4 || tot.TransfersAttempted != 4 || tot.TransfersCompleted != 2 || tot.TransfersFailed != 2 {
		t.Fatalf("totals = %+v", tot)
	}
	if tot.TransferRate != 1 || tot.SuccessRate != 0.5 {
		t.Errorf("rates = %v, %v", tot.TransferRate, tot.SuccessRate)
	}
	if tot.ConnectTimeP50MS == nil || *tot.ConnectTimeP50MS != 1000 || *tot.ConnectTimeP95MS != 3000 {
		t.Errorf("percentiles = %v, %v", deref(tot.ConnectTimeP50MS), deref(tot.ConnectTimeP95MS))
	}
	if len(tot.FailuresByStatus) != 2 {
		t.Errorf("failures = %+v", tot.FailuresByStatus)
	}
	if len(r.Groups) != 2 || r.Groups[0].Key != "2026-11-23" || r.Groups[0].Calls != 3 || r.Groups[0].TransfersAttempted != 3 ||
		r.Groups[1].Key != "2026-11-24" || r.Groups[1].Calls != 1 || r.Groups[1].TransfersFailed != 1 || r.Groups[1].ConnectTimeP50MS != nil {
		t.Errorf("groups = %+v", r.Groups)
	}

	q.GroupBy = core.GroupByDestination
	r, err = s.TransferStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 2 || r.Groups[0].Key != "+31201111111" || r.Groups[0].Calls != 2 || r.Groups[0].TransfersCompleted != 2 ||
		r.Groups[1].Key != "+31202222222" || r.Groups[1].Calls != 2 || r.Groups[1].TransfersFailed != 2 || r.Groups[1].SuccessRate != 0 {
		t.Errorf("by destination = %+v", r.Groups)
	}

	q.GroupBy, q.AssistantID = core.GroupByAssistant, "B"
	r, err = s.TransferStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 1 || r.Groups[0].Key != "B" || r.Totals.Calls != 1 || r.Totals.TransfersAttempted != 1 ||
		len(r.Totals.FailuresByStatus) != 1 || r.Totals.FailuresByStatus[0].SIPStatus != 603 {
		t.Errorf("assistant B = %+v", r)
	}

	q = core.StatsQuery{Since: q.Since, Until: q.Until, Destination: "+31202222222", PhoneNumberID: "N1"}
	r, err = s.TransferStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if r.Totals.Calls != 1 || r.Totals.TransfersAttempted != 1 || r.Totals.TransfersFailed != 1 {
		t.Errorf("destination on N1 = %+v", r.Totals)
	}
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
		sip_status, reason, steps, created_at, updated_at, ended_at, attempted, connect_ms, call_created_at, call_assistant_id, call_number_id)
		VALUES (?, ?, ?, 'number', ?, ?, ?, ?, '[]', ?, ?, ?, 1, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	step := 91 * 24 * time.Hour / time.Duration(n)
	for i := range n {
		at := start.Add(time.Duration(i) * step)
		id := fmt.Sprintf("call-%08d", i)
		ts := formatTime(at)
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
		end := formatTime(tAt.Add(took))
		var connect any
		if status == core.TransferCompleted {
			connect = float64(took.Milliseconds())
		}
		if _, err := trStmt.ExecContext(ctx, "tr-"+id, id, dest, "sip:"+dest+"@pbx", status, sipStatus, reason,
			formatTime(tAt), end, end, connect, ts, assistant, number); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestStatsMigrationBackfills: transfers stored before migration 0008 get
// their statistics columns from their calls.
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
		        ('t2', 'c1', '+31201111111', 'number', NULL, 'failed', NULL, '[]', '2026-11-20T10:02:00.000Z', '2026-11-20T10:02:00.000Z', '2026-11-20T10:02:00.000Z')`,
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
}
