package webhooks

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

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
