package webhooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// BenchmarkDispatchInflow is the dispatcher keeping up with an outbox
// that fills as it drains: calls arrive at a steady rate, each writing
// its ~9 events over its life, one commit each, with a Notify, as a
// transfer's do. It reports deliveries/s sent during the inflow and the
// pending left at its end (0 when the dispatcher kept pace).
func BenchmarkDispatchInflow(b *testing.B) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { sent.Add(1) }))
	b.Cleanup(srv.Close)
	s := openStore(b)
	cfg := fast()
	cfg.Concurrency = 32
	d := NewDispatcher(s, nil, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	const callsPerSec, perCall, spread = 250, 9, 10 * time.Millisecond
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	tick := time.NewTicker(time.Second / callsPerSec)
	var writers sync.WaitGroup
	for range b.N {
		<-tick.C
		writers.Go(func() {
			call := newID(b)
			for range perCall {
				write(b, s, event(b, call, srv.URL+"/hook", ""))
				d.Notify()
				time.Sleep(spread)
			}
		})
	}
	tick.Stop()
	writers.Wait()
	took := time.Since(start)
	got := sent.Load()
	cpu = processCPU() - cpu
	b.StopTimer()
	_, pending, err := s.ListDeliveries(ctx, core.DeliveryFilter{Status: core.DeliveryPending, Page: core.Page{Limit: 1}})
	if err != nil {
		b.Fatal(err)
	}
	cancel()
	<-done
	b.ReportMetric(float64(got)/took.Seconds(), "deliveries/s")
	b.ReportMetric(float64(pending), "pending-at-end")
	b.ReportMetric(float64(cpu.Microseconds())/float64(max(got, 1)), "cpu-µs/delivery")
}
