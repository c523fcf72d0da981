package sqlite

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/storetest"
)

// writeCalls stores n calls, one commit each.
func writeCalls(t *testing.T, s *Store, n int) {
	t.Helper()
	for range n {
		if err := s.CreateCall(t.Context(), storetest.BareCall(t, core.CallRinging)); err != nil {
			t.Fatal(err)
		}
	}
}

// walSize is the size of the store's write-ahead log file.
func walSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCheckpointsOffTheWritePath: the writer never checkpoints (its
// commits would carry the copy and its fsyncs); the checkpointer copies
// the log into the database file on its own, so that the log restarts
// from its beginning instead of growing.
func TestCheckpointsOffTheWritePath(t *testing.T) {
	s, path := openTemp(t)
	var auto int
	if err := s.write.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto != 0 {
		t.Fatalf("writer wal_autocheckpoint = %d, want 0", auto)
	}
	// Well past SQLite's automatic 1000 pages, in rounds that the
	// checkpointer sees: the log restarts after each, so it stays near
	// one round's size.
	before := s.ckpt.runs.Load()
	for range 3 {
		writeCalls(t, s, 150)
		n := s.ckpt.runs.Load()
		waitFor(t, "a checkpoint", func() bool { return s.ckpt.runs.Load() > n })
	}
	if s.ckpt.runs.Load()-before < 3 {
		t.Fatalf("checkpoints = %d, want one per round", s.ckpt.runs.Load()-before)
	}
	one := walSize(t, path)
	writeCalls(t, s, 150)
	waitFor(t, "a checkpoint", func() bool { return s.ckpt.runs.Load() > before+3 })
	if got := walSize(t, path); got > one*3/2 {
		t.Fatalf("write-ahead log grew from %d to %d bytes across checkpointed rounds", one, got)
	}
}

// TestWALBoundedUnderAReader: a reader holding an old snapshot keeps a
// PASSIVE checkpoint from restarting the log; past its bound the
// checkpointer waits for the reader and empties the log file.
func TestWALBoundedUnderAReader(t *testing.T) {
	s, path := openTemp(t)
	s.ckpt.limit.Store(50)
	ctx := t.Context()
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM calls").Scan(&n); err != nil {
		t.Fatal(err)
	}
	writeCalls(t, s, 100) // several frames each: past the bound
	held := walSize(t, path)
	if held < 50*4096 {
		t.Fatalf("write-ahead log %d bytes under the reader, want past the bound", held)
	}
	_ = tx.Rollback()
	waitFor(t, "the log emptied", func() bool { return walSize(t, path) == 0 })
	// Nothing lost on the way.
	var calls int
	if err := s.read.QueryRowContext(context.Background(), "SELECT count(*) FROM calls").Scan(&calls); err != nil {
		t.Fatal(err)
	}
	if calls != 100 {
		t.Fatalf("calls = %d, want 100", calls)
	}
}
