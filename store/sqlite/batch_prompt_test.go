package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
	"github.com/voicedock/voicedock/store/storetest"
)

// waitBatcher waits, at most five seconds, until ok holds of the
// batcher's state.
func waitBatcher(t *testing.T, s *Store, what string, ok func(b *batcher) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.batch.mu.Lock()
		done := ok(&s.batch)
		s.batch.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the batcher never %s", what)
		}
		runtime.Gosched()
	}
}

func waitLeading(t *testing.T, s *Store) {
	t.Helper()
	waitBatcher(t, s, "got a leader", func(b *batcher) bool { return b.leading })
}

// waitWaiting waits until the batcher holds n writes besides the urgent.
func waitWaiting(t *testing.T, s *Store, n int) {
	t.Helper()
	waitBatcher(t, s, fmt.Sprintf("held %d writes", n), func(b *batcher) bool { return len(b.queue)+len(b.prompt) == n })
}

// The webhook dispatcher's round does not queue behind the transfer
// path's writes: with the writer busy and more writes queued than a
// batch holds, the round commits in the next batch, and so before most
// of the writes queued ahead of it. Counted in writes, not time.
func TestRecordAndClaimGoesAheadOfTheQueue(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	d := storetest.DeliveryFixture(t, "", "https://a.example.com/hook", storetest.Now())
	storetest.AddDeliveries(t, s, d)

	var wg sync.WaitGroup
	gate := make(chan struct{})
	wg.Go(func() { _ = s.inBatchTx(ctx, func(*sql.Tx) error { <-gate; return nil }) })
	waitLeading(t, s)
	const queued = 2 * maxBatch
	// Each queued write looks, in its transaction, whether the round's
	// claim is there yet.
	var before, ran atomic.Int64
	claimed := func(tx *sql.Tx) error {
		var next string
		if err := tx.QueryRow("SELECT next_attempt_at FROM webhook_deliveries WHERE id = ?", d.ID).Scan(&next); err != nil {
			return err
		}
		if next == sqlrows.FormatTime(d.NextAttemptAt) {
			before.Add(1)
		}
		ran.Add(1)
		return nil
	}
	for i := range queued {
		wg.Go(func() { _ = s.inBatchTx(ctx, claimed) })
		waitQueued(t, s, i+1, 0)
	}
	var got []core.WebhookDelivery
	var err error
	wg.Go(func() {
		now := storetest.Now()
		got, err = s.RecordAndClaim(ctx, core.DeliveryRound{Now: now, Until: now.Add(time.Minute), Limit: 1,
			Candidates: []core.WebhookDelivery{d}})
	})
	waitWaiting(t, s, queued+1)
	close(gate)
	wg.Wait()
	if err != nil || len(got) != 1 || got[0].ID != d.ID {
		t.Fatalf("round: %v %v", got, err)
	}
	if ran.Load() != queued {
		t.Fatalf("%d of %d queued writes ran", ran.Load(), queued)
	}
	// The round goes first in the next batch; waiting its turn it would
	// have followed all the writes queued before it.
	if n := before.Load(); n != 0 {
		t.Errorf("%d of the %d writes queued before the round ran before it, want none", n, queued)
	}
}

// Prompt writes go after urgent ones and before the regular queue, in
// the order they came.
func TestPromptWritesOrder(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	var log batchLog
	var wg sync.WaitGroup
	gate := make(chan struct{})
	wg.Go(func() { _ = s.inBatchTx(ctx, log.write("leader", gate)) })
	waitLeading(t, s)
	for i := range 3 {
		wg.Go(func() { _ = s.inBatchTx(ctx, log.write(fmt.Sprintf("r%d", i), nil)) })
		waitQueued(t, s, i+1, 0)
	}
	for i := range 2 {
		wg.Go(func() { _ = s.inPromptTx(ctx, log.write(fmt.Sprintf("p%d", i), nil)) })
		waitWaiting(t, s, 3+i+1)
	}
	wg.Go(func() { _ = s.inUrgentTx(ctx, log.write("urgent", nil)) })
	waitQueued(t, s, 3, 1)
	close(gate)
	wg.Wait()
	storetest.MustEqual(t, log.order, []string{"leader", "urgent", "p0", "p1", "r0", "r1", "r2"})
}
