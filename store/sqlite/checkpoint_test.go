package sqlite

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"slices"
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
// the log into the database file on its own, so that the next write
// starts the log again from its beginning instead of growing it.
func TestCheckpointsOffTheWritePath(t *testing.T) {
	s, path := openTemp(t)
	var auto int
	if err := s.write.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto != 0 {
		t.Fatalf("writer wal_autocheckpoint = %d, want 0", auto)
	}
	// Rounds of writes well past SQLite's automatic 1000 pages in all:
	// after each, the log is copied back and a write starts it again.
	for range 3 {
		writeCalls(t, s, 100)
		before := walRestarts(t, path)
		waitFor(t, "the log to start again", func() bool {
			writeCalls(t, s, 1)
			return walRestarts(t, path) > before
		})
	}
	if s.ckpt.runs.Load() < 3 {
		t.Fatalf("%d checkpoints, want one per round at least", s.ckpt.runs.Load())
	}
}

// walRestarts is the checkpoint sequence number of the store's log (its
// header's bytes 12-15): it counts the times the log started again from
// its beginning after a checkpoint.
func walRestarts(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [16]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint32(h[12:])
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

// BenchmarkTransferStepLatency is the latency of a transfer's step write
// (one at a time, as one call's steps are), p50 and p99: SQLite's own
// automatic checkpoint, every 1000 pages or so, put its copy and fsyncs
// into one commit in ~170 of these.
func BenchmarkTransferStepLatency(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	c := storetest.CallFixture(b, core.CallInProgress)
	storetest.CreateCalls(b, s, c)
	t := storetest.TransferFixture(b, c.ID, core.TransferRinging)
	storetest.SaveTransfers(b, s, t)
	var took []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t.SIPStatus++
		start := time.Now()
		if err := s.SaveTransfer(ctx, t); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	at := func(p int) float64 { return float64(took[(len(took)-1)*p/100].Microseconds()) / 1000 }
	b.ReportMetric(at(50), "p50-ms")
	b.ReportMetric(at(99), "p99-ms")
	b.ReportMetric(at(100), "max-ms")
}

// TestWALStartsAgainUnderUnpausedWrites: writes that never pause keep a
// checkpoint run beside them from catching up, so the log would never
// start again; past its restart length the checkpointer holds the group
// commit for the last few frames' copy, and the log starts again.
func TestWALStartsAgainUnderUnpausedWrites(t *testing.T) {
	s, path := openTemp(t)
	s.ckpt.restartAt.Store(200)
	ctx := t.Context()
	c := storetest.CallFixture(t, core.CallInProgress)
	storetest.CreateCalls(t, s, c)
	tr := storetest.TransferFixture(t, c.ID, core.TransferRinging)
	storetest.SaveTransfers(t, s, tr)
	before := walRestarts(t, path)
	deadline := time.Now().Add(10 * time.Second)
	for walRestarts(t, path)-before < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the log started again %d times under writes, want 3", walRestarts(t, path)-before)
		}
		for range 50 {
			tr.SIPStatus++
			if err := s.SaveTransfer(ctx, tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	if s.ckpt.restarts.Load() == 0 {
		t.Fatal("the log started again without the checkpointer holding the writes")
	}
}
