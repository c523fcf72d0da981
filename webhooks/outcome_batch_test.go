package webhooks

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// countWrites counts the store writes that record outcomes.
type countWrites struct {
	*watched
	writes atomic.Int64
}

func (c *countWrites) UpdateDelivery(ctx context.Context, d core.WebhookDelivery) error {
	c.writes.Add(1)
	return c.watched.UpdateDelivery(ctx, d)
}

func (c *countWrites) RecordAndClaim(ctx context.Context, r core.DeliveryRound) ([]core.WebhookDelivery, error) {
	if len(r.Outcomes) > 0 {
		c.writes.Add(1)
	}
	return c.watched.RecordAndClaim(ctx, r)
}

func (c *countWrites) UpdateDeliveries(ctx context.Context, ds []core.WebhookDelivery) error {
	c.writes.Add(1)
	return c.watched.UpdateDeliveries(ctx, ds)
}

// The outcomes of the attempts that ended between two rounds are
// recorded in one write, not one write each.
func TestOutcomesOfARoundShareOneWrite(t *testing.T) {
	w := watch(openStore(t))
	store := &countWrites{watched: w}
	rc := newReceiver(t, nil)
	const n = 8
	var ds []core.WebhookDelivery
	for range n {
		ds = append(ds, event(t, newID(t), rc.URL(), ""))
	}
	write(t, w.Store, ds...)
	cfg := fast()
	cfg.Concurrency = n
	d := NewDispatcher(store, nil, cfg, testLogger(t))
	var wg sync.WaitGroup
	if _, err := d.round(t.Context(), &wg); err != nil {
		t.Fatal(err)
	}
	wg.Wait() // every attempt has ended
	if _, err := d.round(t.Context(), &wg); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, del := range ds {
		if got := w.waitStatus(t, del.ID, core.DeliveryDelivered); got.Attempts != 1 {
			t.Errorf("delivered %+v", got)
		}
	}
	if got := store.writes.Load(); got != 1 {
		t.Errorf("%d outcomes recorded in %d writes, want 1", n, got)
	}
	if got := len(rc.requests()); got != n {
		t.Errorf("%d requests, want %d", got, n)
	}
}

// dueTimes records when each round's due query ran: the round's first
// store call, where pace counts from. (The round's write comes after that
// read, which on a loaded machine took long enough in one round and not
// in the next for two writes to be 2.8 ms apart.)
type dueTimes struct {
	*watched
	mu    sync.Mutex
	times []time.Time
}

func (d *dueTimes) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]core.WebhookDelivery, error) {
	d.mu.Lock()
	d.times = append(d.times, time.Now())
	d.mu.Unlock()
	return d.watched.DueDeliveries(ctx, now, limit)
}

// Below saturation a round follows a small one only after roundGap, so
// that the next takes what arrived meanwhile: a call's events, sent one
// at a time, were a round each as fast as the receiver answered.
func TestSmallRoundsArePaced(t *testing.T) {
	w := watch(openStore(t))
	store := &dueTimes{watched: w}
	rc := newReceiver(t, nil)
	call := newID(t)
	var ds []core.WebhookDelivery
	for range 6 {
		ds = append(ds, event(t, call, rc.URL(), ""))
	}
	write(t, w.Store, ds...)
	r := start(t, store, nil, fast())
	w.waitStatus(t, ds[len(ds)-1].ID, core.DeliveryDelivered)
	r.stop()
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.times) < len(ds) {
		t.Fatalf("%d due queries for %d deliveries of one call", len(store.times), len(ds))
	}
	// Half the gap: what a round does before its due query takes its time
	// too. (Not roundGap/2, which would pass with no gap.)
	const least = 5 * time.Millisecond
	if roundGap < 2*least {
		t.Fatalf("roundGap %v: the test's bound is for 10ms", roundGap)
	}
	for i := 1; i < len(store.times); i++ {
		if gap := store.times[i].Sub(store.times[i-1]); gap < least {
			t.Errorf("due query %d ran %v after the one before, want about %v at least", i, gap, roundGap)
		}
	}
}
