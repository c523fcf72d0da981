package webhooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// BenchmarkDispatch is the dispatcher draining an outbox of b.N due
// deliveries (each of its own call) to a receiver that answers 200 at
// once, 32 in flight, over a real SQLite store: per delivery, the rounds'
// due queries and claims, the POST and the outcome write.
func BenchmarkDispatch(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	b.Cleanup(srv.Close)
	s := openStore(b)
	ds := make([]core.WebhookDelivery, b.N)
	for i := range ds {
		ds[i] = event(b, "", srv.URL, "")
	}
	write(b, s, ds...)
	cfg := fast()
	cfg.Concurrency = 32
	c := &countDelivered{Store: s, done: make(chan struct{})}
	c.left.Store(int64(b.N))
	d := NewDispatcher(c, nil, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	b.ResetTimer()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		b.Fatalf("%d deliveries not delivered after a minute", c.left.Load())
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// countDelivered closes done once left deliveries are recorded delivered.
type countDelivered struct {
	*sqlite.Store
	left atomic.Int64
	done chan struct{}
}

func (c *countDelivered) UpdateDelivery(ctx context.Context, d core.WebhookDelivery) error {
	err := c.Store.UpdateDelivery(ctx, d)
	if err == nil && d.Status == core.DeliveryDelivered && c.left.Add(-1) == 0 {
		close(c.done)
	}
	return err
}
