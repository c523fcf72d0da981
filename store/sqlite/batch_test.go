package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/storetest"
)

// TestBatchedWritesFailAlone writes from many goroutines at once, so that
// writes share transactions, with every third one bound to fail: each
// failure must come back to its own writer only, and every other write
// must be stored.
func TestBatchedWritesFailAlone(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const n = 300
	calls := make([]core.Call, n)
	for i := range calls {
		calls[i] = storetest.BareCall(t, core.CallRinging)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			if i%3 == 0 {
				// Never created: the update must fail with not_found.
				errs[i] = s.UpdateCall(ctx, calls[i])
				return
			}
			if err := s.CreateCall(ctx, calls[i]); err != nil {
				errs[i] = err
				return
			}
			c := calls[i]
			c.Status = core.CallInProgress
			errs[i] = s.UpdateCall(ctx, c)
		})
	}
	wg.Wait()
	for i, c := range calls {
		got, err := s.GetCall(ctx, c.ID)
		if i%3 == 0 {
			storetest.MustCode(t, errs[i], core.CodeNotFound, "id")
			storetest.MustCode(t, err, core.CodeNotFound, "id")
			continue
		}
		if errs[i] != nil {
			t.Fatalf("write %d: %v", i, errs[i])
		}
		if err != nil || got.Status != core.CallInProgress {
			t.Fatalf("call %d: %v %+v", i, err, got)
		}
	}
}

// TestBatchedWriteCancelled: a write whose context is done fails with it
// and takes no other write along.
func TestBatchedWriteCancelled(t *testing.T) {
	s, _ := openTemp(t)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	calls := make([]core.Call, 50)
	errs := make([]error, len(calls))
	for i := range calls {
		calls[i] = storetest.BareCall(t, core.CallRinging)
		wg.Go(func() {
			ctx := context.Background()
			if i%5 == 0 {
				ctx = done
			}
			errs[i] = s.CreateCall(ctx, calls[i])
		})
	}
	wg.Wait()
	for i, c := range calls {
		_, err := s.GetCall(context.Background(), c.ID)
		if i%5 == 0 {
			if errs[i] == nil || err == nil {
				t.Errorf("cancelled write %d: %v, stored: %v", i, errs[i], err)
			}
			continue
		}
		if errs[i] != nil || err != nil {
			t.Errorf("write %d: %v, read: %v", i, errs[i], err)
		}
	}
}

// BenchmarkUpdateCallParallel is the call hot path's write from many
// goroutines, as under load: writes share transactions.
func BenchmarkUpdateCallParallel(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	var calls []core.Call
	for range 64 {
		c := storetest.BareCall(b, core.CallInProgress)
		if err := s.CreateCall(ctx, c); err != nil {
			b.Fatal(err)
		}
		calls = append(calls, c)
	}
	var mu sync.Mutex
	next := 0
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		c := calls[next%len(calls)]
		next++
		mu.Unlock()
		for pb.Next() {
			if err := s.UpdateCall(ctx, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// batchLog records the order in which writes ran.
type batchLog struct {
	mu    sync.Mutex
	order []string
}

func (l *batchLog) write(name string, gate <-chan struct{}) func(*sql.Tx) error {
	return func(*sql.Tx) error {
		if gate != nil {
			<-gate
		}
		l.mu.Lock()
		l.order = append(l.order, name)
		l.mu.Unlock()
		return nil
	}
}

// writeStarted is write that closes started once the leader runs it:
// a leader is "leading" before it takes its batch from the queue, so
// writes queued between the two would join its batch.
func (l *batchLog) writeStarted(name string, gate <-chan struct{}, started chan<- struct{}) func(*sql.Tx) error {
	var once sync.Once
	w := l.write(name, gate)
	return func(tx *sql.Tx) error {
		once.Do(func() { close(started) })
		return w(tx)
	}
}

// waitQueued waits until the batcher holds regular and urgent writes.
func waitQueued(t *testing.T, s *Store, regular, urgent int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.batch.mu.Lock()
		r, u := len(s.batch.queue), len(s.batch.urgent)
		s.batch.mu.Unlock()
		if r == regular && u == urgent {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queued %d regular and %d urgent writes, want %d and %d", r, u, regular, urgent)
		}
		runtime.Gosched()
	}
}

// An urgent write (a transfer's first) goes ahead of the writes queued
// before it, and cuts a batch being written short rather than wait for
// the rest of it.
func TestUrgentWritesGoFirst(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	var log batchLog
	var wg sync.WaitGroup

	// The leader is busy with one write while five regular writes and an
	// urgent one queue: the urgent one runs first.
	gate, leaderRuns := make(chan struct{}), make(chan struct{})
	wg.Go(func() { _ = s.inBatchTx(ctx, log.writeStarted("leader", gate, leaderRuns)) })
	<-leaderRuns
	for i := range 5 {
		wg.Go(func() { _ = s.inBatchTx(ctx, log.write(fmt.Sprintf("r%d", i), nil)) })
		waitQueued(t, s, i+1, 0)
	}
	wg.Go(func() { _ = s.inUrgentTx(ctx, log.write("urgent", nil)) })
	waitQueued(t, s, 5, 1)
	close(gate)
	wg.Wait()
	if len(log.order) != 7 || log.order[0] != "leader" || log.order[1] != "urgent" {
		t.Fatalf("order %v: the urgent write did not go first", log.order)
	}

	// A batch of five regular writes, the first held while an urgent write
	// arrives: the urgent one runs second, before the batch's other four.
	log = batchLog{}
	gate = make(chan struct{})
	started := make(chan struct{})
	wg.Go(func() {
		_ = s.inBatchTx(ctx, func(tx *sql.Tx) error { close(started); <-gate; return nil })
	})
	<-started
	// The leader holds the single write; queue the batch behind it.
	first := make(chan struct{})
	wg.Go(func() { _ = s.inBatchTx(ctx, log.write("b0", first)) })
	waitQueued(t, s, 1, 0)
	for i := 1; i < 5; i++ {
		wg.Go(func() { _ = s.inBatchTx(ctx, log.write(fmt.Sprintf("b%d", i), nil)) })
		waitQueued(t, s, i+1, 0)
	}
	close(gate) // the leader now runs the batch b0..b4, held at b0
	waitQueued(t, s, 0, 0)
	wg.Go(func() { _ = s.inUrgentTx(ctx, log.write("urgent", nil)) })
	waitQueued(t, s, 0, 1)
	close(first)
	wg.Wait()
	if len(log.order) != 6 || log.order[0] != "b0" || log.order[1] != "urgent" {
		t.Fatalf("order %v: the urgent write waited for the batch", log.order)
	}
}

// A leader returns once its own write is stored (and leadTenure has
// passed), handing the lead to the write queued behind it: it does not
// commit others' writes for as long as they keep coming. Under load the queue is never empty, and a leader
// kept its caller (a NOTIFY's step, holding its call's lock) for 10-12 s
// while the other writes of that time took a second.
func TestLeaderReturnsOnceItsWriteIsStored(t *testing.T) {
	s, _ := openTemp(t)
	// The lead is handed on as soon as the leader's write is stored, not
	// after leadTenure: the write behind it is held for good here.
	s.batch.mu.Lock()
	s.batch.tenure = 0
	s.batch.mu.Unlock()
	ctx := context.Background()
	var log batchLog
	var wg sync.WaitGroup
	leaderGate, nextGate := make(chan struct{}), make(chan struct{})
	leaderDone := make(chan error, 1)
	leaderRuns := make(chan struct{})
	go func() { leaderDone <- s.inBatchTx(ctx, log.writeStarted("leader", leaderGate, leaderRuns)) }()
	<-leaderRuns
	// Queued behind the leader's write, and held once it runs: the
	// writes that keep a loaded store's queue from ever emptying.
	nextDone := make(chan error, 1)
	wg.Go(func() { nextDone <- s.inBatchTx(ctx, log.write("next", nextGate)) })
	waitQueued(t, s, 1, 0)
	close(leaderGate)
	select {
	case err := <-leaderDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(nextGate)
		wg.Wait()
		t.Fatal("the leader's writer waited for the write queued behind its own")
	}
	close(nextGate)
	if err := <-nextDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(log.order) != 2 || log.order[0] != "leader" || log.order[1] != "next" {
		t.Fatalf("order %v", log.order)
	}
	// The lead ended with the queue: a write now leads at once.
	if err := s.inBatchTx(ctx, log.write("alone", nil)); err != nil {
		t.Fatal(err)
	}
	s.batch.mu.Lock()
	leading := s.batch.leading
	s.batch.mu.Unlock()
	if leading {
		t.Fatal("the batcher still has a leader with nothing queued")
	}
}

// A write whose context ends while it waits in the queue fails alone when
// its turn comes, and the writes batched with it share their transaction
// as if it had not been there: none of them is run a second time. (The
// batch was rolled back for it and its writes run again one transaction
// each: in an overload, where such writes are many, that slowed the queue
// when it was longest.)
func TestExpiredWriteLeavesItsBatch(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	gate, leaderRuns := make(chan struct{}), make(chan struct{})
	var leaderLog batchLog
	wg.Go(func() { _ = s.inBatchTx(ctx, leaderLog.writeStarted("leader", gate, leaderRuns)) })
	<-leaderRuns

	var mu sync.Mutex
	runs := map[string][]*sql.Tx{}
	write := func(name string) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			mu.Lock()
			runs[name] = append(runs[name], tx)
			mu.Unlock()
			_, err := tx.Exec(`CREATE TABLE IF NOT EXISTS batch_probe (name TEXT)`)
			if err == nil {
				_, err = tx.Exec(`INSERT INTO batch_probe (name) VALUES (?)`, name)
			}
			return err
		}
	}
	expiring, expire := context.WithCancel(ctx)
	errs := make([]error, 3)
	for i, name := range []string{"before", "expired", "after"} {
		wctx := ctx
		if name == "expired" {
			wctx = expiring
		}
		wg.Go(func() { errs[i] = s.inBatchTx(wctx, write(name)) })
		waitQueued(t, s, i+1, 0)
	}
	expire()
	close(gate)
	wg.Wait()

	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("the live writes failed: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], context.Canceled) {
		t.Fatalf("the expired write returned %v, want context.Canceled", errs[1])
	}
	if len(runs["expired"]) != 0 {
		t.Fatal("the expired write ran")
	}
	if len(runs["before"]) != 1 || len(runs["after"]) != 1 {
		t.Fatalf("the live writes ran %d and %d times, want once each (the batch was run again)",
			len(runs["before"]), len(runs["after"]))
	}
	if runs["before"][0] != runs["after"][0] {
		t.Fatal("the live writes did not share their transaction")
	}
	var stored int
	if err := s.write.QueryRowContext(ctx, `SELECT count(*) FROM batch_probe`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 2 {
		t.Fatalf("%d rows stored, want 2", stored)
	}
}
