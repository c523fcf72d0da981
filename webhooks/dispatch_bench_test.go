package webhooks

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// BenchmarkDispatch is the dispatcher draining an outbox of b.N due
// deliveries to a local receiver that answers 200 at once, 32 in flight,
// over a real SQLite store: per delivery, the rounds' due queries and
// claims, the POST and the outcome write. "own-call" gives every delivery
// a call of its own; "9-per-call" is a transfer's shape (~9 deliveries per
// transferred call, sent in order, one at a time per call). It reports
// deliveries/s.
//
// "busy-writer" adds writers that keep the store's single writer
// saturated meanwhile, as the transfer path does under load: 16
// goroutines updating calls without pause.
func BenchmarkDispatch(b *testing.B) {
	for _, perCall := range []int{1, 9} {
		name := "own-call"
		if perCall > 1 {
			name = fmt.Sprintf("%d-per-call", perCall)
		}
		b.Run(name, func(b *testing.B) { benchmarkDispatch(b, perCall, false) })
	}
	b.Run("9-per-call-busy-writer", func(b *testing.B) { benchmarkDispatch(b, 9, true) })
}

// keepWriterBusy updates calls from 16 goroutines until ctx ends, and
// returns how to wait for them.
func keepWriterBusy(ctx context.Context, b *testing.B, s *sqlite.Store) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range 16 {
		at := time.Now().UTC().Truncate(time.Millisecond)
		c := core.Call{ID: newID(b), Direction: core.DirectionInbound, Status: core.CallRinging, CreatedAt: at, UpdatedAt: at}
		if err := s.CreateCall(ctx, c); err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				c.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
				_ = s.UpdateCall(ctx, c)
			}
		})
	}
	return &wg
}

func benchmarkDispatch(b *testing.B, perCall int, busyWriter bool) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	b.Cleanup(srv.Close)
	s := openStore(b)
	ds := make([]core.WebhookDelivery, b.N)
	callID := ""
	for i := range ds {
		if perCall > 1 && i%perCall == 0 {
			callID = newID(b)
		}
		ds[i] = event(b, callID, srv.URL, "")
	}
	write(b, s, ds...)
	cfg := fast()
	cfg.Concurrency = 32
	c := &countDelivered{Store: s, done: make(chan struct{})}
	c.left.Store(int64(b.N))
	d := NewDispatcher(c, nil, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	if busyWriter {
		wctx, stop := context.WithCancel(ctx)
		writers := keepWriterBusy(wctx, b, s)
		defer writers.Wait()
		defer stop()
	}
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		b.Fatalf("%d deliveries not delivered after a minute", c.left.Load())
	}
	took, cpu := time.Since(start), processCPU()-cpu
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "deliveries/s")
	// The process's CPU per delivery: the dispatcher, the store and the
	// receiver, steadier than deliveries/s on a busy machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/delivery")
	b.ReportMetric(float64(conns.Load()), "connections")
	b.ReportMetric(float64(b.N)/float64(c.claims.Load()), "deliveries/claim")
	b.ReportMetric(float64(b.N)/float64(c.outcomeWrites.Load()), "deliveries/outcome-write")
}

// countDelivered closes done once left deliveries are recorded delivered.
type countDelivered struct {
	*sqlite.Store
	left          atomic.Int64
	claims        atomic.Int64
	outcomeWrites atomic.Int64
	done          chan struct{}
}

func (c *countDelivered) ClaimDeliveries(ctx context.Context, ids []string, until, now time.Time) ([]string, error) {
	c.claims.Add(1)
	return c.Store.ClaimDeliveries(ctx, ids, until, now)
}

func (c *countDelivered) RecordAndClaim(ctx context.Context, r core.DeliveryRound) ([]core.WebhookDelivery, error) {
	c.claims.Add(1)
	if len(r.Outcomes) > 0 {
		c.outcomeWrites.Add(1)
	}
	claimed, err := c.Store.RecordAndClaim(ctx, r)
	if err != nil {
		return nil, err
	}
	c.delivered(r.Outcomes)
	return claimed, nil
}

func (c *countDelivered) delivered(ds []core.WebhookDelivery) {
	for _, d := range ds {
		if d.Status == core.DeliveryDelivered && c.left.Add(-1) == 0 {
			close(c.done)
		}
	}
}

func (c *countDelivered) UpdateDeliveries(ctx context.Context, ds []core.WebhookDelivery) error {
	c.outcomeWrites.Add(1)
	err := c.Store.UpdateDeliveries(ctx, ds)
	if err != nil {
		return err
	}
	c.delivered(ds)
	return nil
}
