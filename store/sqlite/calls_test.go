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

func TestEndLiveCallsMatchesLiveAndFinal(t *testing.T) {
	// The SQL status list agrees with core's Live.
	for _, st := range []string{core.CallRinging, core.CallInProgress, core.CallTransferred, core.CallEnded,
		core.CallFailed, core.CallRejected, core.CallDialing} {
		if live := strings.Contains(liveCallStatuses, "'"+st+"'"); live != (core.Call{Status: st}).Live() {
			t.Errorf("call status %s: in the live list %v", st, live)
		}
	}
	// Transfers are picked by core.Transfer.Final itself: no list to agree.
}

func TestMigrationFromVersion1KeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "voicedock.db")

	// A database as the previous release left it: 0001 only, with data.
	initSQL, err := fs.ReadFile(embeddedMigrations, "migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	v1 := fstest.MapFS{"migrations/0001_init.sql": {Data: initSQL}}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db, v1, time.Now, discardLogger()); err != nil {
		t.Fatal(err)
	}
	ts := storetest.Now()
	a := core.Assistant{ID: storetest.NewID(t), AssistantConfig: core.AssistantConfig{Name: "Front desk", FirstMessage: "Hi."},
		CreatedAt: ts, UpdatedAt: ts}
	tr := core.Trunk{ID: storetest.NewID(t), TrunkConfig: core.TrunkConfig{Name: "PBX", Host: "pbx.example.com", Port: 5060,
		Transport: core.TransportUDP, Username: "u"}, CreatedAt: ts, UpdatedAt: ts}
	n := storetest.NumberFixture(t, "+31201234567", &a.ID, &tr.ID)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO assistants (id, name, config, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			[]any{a.ID, a.Name, `{"name":"Front desk","first_message":"Hi."}`, sqlrows.FormatTime(ts), sqlrows.FormatTime(ts)}},
		{"INSERT INTO trunks (id, name, host, port, transport, username, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			[]any{tr.ID, tr.Name, tr.Host, tr.Port, tr.Transport, tr.Username, sqlrows.FormatTime(ts), sqlrows.FormatTime(ts)}},
		{"INSERT INTO phone_numbers (id, phone_number, name, assistant_id, transfer_trunk_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			[]any{n.ID, n.PhoneNumber, n.Name, a.ID, tr.ID, sqlrows.FormatTime(n.CreatedAt), sqlrows.FormatTime(n.UpdatedAt)}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	applied := appliedMigrations(t, db)
	if len(applied) != 1 {
		t.Fatalf("version 1 database has %+v", applied)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, path, storetest.NewKey(t))
	got := appliedMigrations(t, s.read)
	if len(got) < 2 || got[0] != applied[0] || got[1].version != 2 || got[1].name != "migrations/0002_calls.sql" {
		t.Fatalf("applied %+v", got)
	}
	gotA, err := s.GetAssistant(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustEqual(t, gotA, a)
	gotT, err := s.GetTrunk(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustEqual(t, gotT, tr)
	gotN, err := s.GetPhoneNumber(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustEqual(t, gotN, n)

	// The new tables work, and a call outlives its number and assistant.
	c := storetest.CallFixture(t, core.CallEnded)
	c.NumberID, c.AssistantID = n.ID, a.ID
	storetest.CreateCalls(t, s, c)
	if err := s.DeletePhoneNumber(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAssistant(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	storetest.MustEqual(t, storetest.GetCall(t, s, c.ID), c)
}

func BenchmarkSaveTransfer(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	c := storetest.CallFixture(b, core.CallInProgress)
	storetest.CreateCalls(b, s, c)
	b.Run("insert", func(b *testing.B) {
		tr := storetest.TransferFixture(b, c.ID, core.TransferRequested)
		b.ReportAllocs()
		for b.Loop() {
			tr.ID = storetest.NewID(b)
			if err := s.SaveTransfer(ctx, tr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update", func(b *testing.B) {
		tr := storetest.TransferFixture(b, c.ID, core.TransferRinging)
		storetest.SaveTransfers(b, s, tr)
		b.ReportAllocs()
		for b.Loop() {
			tr.SIPStatus++
			if err := s.SaveTransfer(ctx, tr); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetCall(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	c := storetest.CallFixture(b, core.CallEnded)
	storetest.CreateCalls(b, s, c)
	for range 3 {
		storetest.SaveTransfers(b, s, storetest.TransferFixture(b, c.ID, core.TransferFailed))
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.GetCall(ctx, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		if len(got.Transfers) != 3 {
			b.Fatalf("%d transfers", len(got.Transfers))
		}
	}
}

func BenchmarkListCalls(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	for range 200 {
		c := storetest.CallFixture(b, core.CallEnded)
		storetest.CreateCalls(b, s, c)
		storetest.SaveTransfers(b, s, storetest.TransferFixture(b, c.ID, core.TransferFailed))
	}
	b.ReportAllocs()
	for b.Loop() {
		list, total, err := s.ListCalls(ctx, core.CallFilter{Page: core.Page{Limit: core.DefaultPageLimit}})
		if err != nil {
			b.Fatal(err)
		}
		if total != 200 || len(list) != core.DefaultPageLimit {
			b.Fatalf("%d of %d", len(list), total)
		}
	}
}

func BenchmarkCreateCall(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	c := storetest.CallFixture(b, core.CallRinging)
	b.ReportAllocs()
	for b.Loop() {
		c.ID = storetest.NewID(b)
		if err := s.CreateCall(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUpdateCallNumberAndAssistant: an update that changes the call's
// number or assistant stores them (updateCall's full statement), one that
// keeps them stores the rest (its short one), and a call not stored is
// not_found either way.
func TestUpdateCallNumberAndAssistant(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	c := storetest.CallFixture(t, core.CallRinging)
	storetest.CreateCalls(t, s, c)
	other := storetest.CallFixture(t, core.CallRinging)
	storetest.CreateCalls(t, s, other)

	c.Status = core.CallInProgress
	if err := s.UpdateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	storetest.MustEqual(t, storetest.GetCall(t, s, c.ID), c)

	c.AssistantID, c.NumberID = "", ""
	if err := s.UpdateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	storetest.MustEqual(t, storetest.GetCall(t, s, c.ID), c)

	c.AssistantID, c.NumberID = other.AssistantID, other.NumberID
	c.Status = core.CallEnded
	if err := s.UpdateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	storetest.MustEqual(t, storetest.GetCall(t, s, c.ID), c)

	missing := storetest.CallFixture(t, core.CallInProgress)
	storetest.MustCode(t, s.UpdateCall(ctx, missing), core.CodeNotFound, "id")
}

// BenchmarkUpdateCall is a call's status change; frames/op is the pages
// the commit appends to the write-ahead log.
func BenchmarkUpdateCall(b *testing.B) {
	s, path := openTemp(b)
	ctx := b.Context()
	c := storetest.CallFixture(b, core.CallInProgress)
	storetest.CreateCalls(b, s, c)
	// No checkpoints: the log's growth is what the commits appended.
	if err := s.ckpt.close(); err != nil {
		b.Fatal(err)
	}
	before := walSize(b, path)
	statuses := []string{core.CallInProgress, core.CallRinging}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		c.Status = statuses[n%2]
		n++
		if err := s.UpdateCall(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(walSize(b, path)-before)/float64(n*(4096+24)), "frames/op")
}

// BenchmarkTransferredCallWrites is what the core writes for an inbound
// call transferred at once, one write at a time (no other call's write
// shares its commits): the call, answered, the transfer's steps
// requested, accepted, trying and ringing, completed with the call
// transferred, and the call ended. frames/op is the pages the commits
// append to the write-ahead log per call.
func BenchmarkTransferredCallWrites(b *testing.B) {
	s, path := openTemp(b)
	ctx := b.Context()
	// No checkpoints: the log's growth is what the commits appended.
	if err := s.ckpt.close(); err != nil {
		b.Fatal(err)
	}
	before := walSize(b, path)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		c := storetest.CallFixture(b, core.CallRinging)
		c.EndedAt, c.EndReason, c.DurationSeconds = nil, "", 0
		if err := s.CreateCall(ctx, c); err != nil {
			b.Fatal(err)
		}
		c.Status = core.CallInProgress
		if err := s.UpdateCall(ctx, c); err != nil {
			b.Fatal(err)
		}
		t := storetest.TransferFixture(b, c.ID, core.TransferRequested)
		t.Steps, t.EndedAt = nil, nil
		for _, st := range []string{core.TransferRequested, core.TransferAccepted, core.TransferTrying, core.TransferRinging} {
			t.Status = st
			t.Steps = append(t.Steps, core.TransferStep{Status: st, At: t.UpdatedAt})
			if err := s.SaveTransfer(ctx, t); err != nil {
				b.Fatal(err)
			}
		}
		t.Status, t.EndedAt = core.TransferCompleted, storetest.Ptr(t.UpdatedAt)
		t.Steps = append(t.Steps, core.TransferStep{Status: core.TransferCompleted, At: t.UpdatedAt})
		c.Status = core.CallTransferred
		if err := s.SaveTransferAndCall(ctx, t, c); err != nil {
			b.Fatal(err)
		}
		c.Status, c.EndedAt = core.CallEnded, storetest.Ptr(t.UpdatedAt)
		if err := s.UpdateCall(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(walSize(b, path)-before)/float64(n*(4096+24)), "frames/op")
}
