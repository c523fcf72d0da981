package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// BenchmarkTransferredCall is the core's whole work for one inbound call
// transferred at once, against a real SQLite store with a webhook URL
// (so every event's delivery row is written, as in production; no
// dispatcher sends them): the INVITE's offer, the answer, transfer_call,
// the 202 and NOTIFYs 100, 180 and 200 as the SIP layer reports them, the
// hang-up. 32 calls at a time, so that the group commit shares commits as
// it does under load. cpu-µs/op is the process's user and system time per
// call (the figure the server's transfers/s follow); it moves with the
// machine's load less than ns/op does, allocs/op not at all.
func BenchmarkTransferredCall(b *testing.B) {
	ctx := b.Context()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "vd.db"), make([]byte, 32), logger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	config := core.NewConfigCache(st)
	svc := core.NewConfiguration(config, logger)
	configureTransferLine(b, svc)
	policy, err := core.NewPolicy(core.PolicyConfig{AllowedCountries: []string{"*"}})
	if err != nil {
		b.Fatal(err)
	}
	svc.SetPolicy(policy)
	writes := &writeCount{Store: st}
	calls := core.NewCalls(ctx, core.CallsConfig{TransferTimeout: 30 * time.Second, Policy: policy, DefaultWebhookURL: "http://127.0.0.1:9/hook"},
		config, writes, core.NewBus(), logger)
	var (
		mu    sync.Mutex
		ended = map[string]chan struct{}{}
	)
	sip := &benchSIP{calls: calls, ended: func(callID string) {
		mu.Lock()
		ch := ended[callID]
		delete(ended, callID)
		mu.Unlock()
		if ch != nil {
			close(ch)
		}
	}}
	calls.SetSignaling(sip)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		calls.Shutdown(ctx)
	})

	var n atomic.Int64
	b.SetParallelism(16) // 32 calls at a time on 2 cores
	b.ReportAllocs()
	before := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: fmt.Sprintf("c%d", n.Add(1)), Called: "31850835037", Caller: "+31611122233",
				Source: netip.MustParseAddrPort("127.0.0.1:5099")})
			if dec.CallID == "" {
				b.Errorf("call refused: %+v", dec)
				return
			}
			done := make(chan struct{})
			mu.Lock()
			ended[dec.CallID] = done
			mu.Unlock()
			calls.CallAnswered(ctx, dec.CallID)
			t, err := calls.Transfer(ctx, core.TransferRequest{CallID: dec.CallID, Destination: "+31612345678", RequestedBy: "bench"}, nil)
			if err != nil || t.Status != core.TransferCompleted {
				b.Errorf("transfer: %v, %v", t.Status, err)
				return
			}
			<-done
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(writes.n.Load())/float64(b.N), "writes/op")
}

// writeCount is the SQLite store with its call and transfer writes
// counted.
type writeCount struct {
	*sqlite.Store
	n atomic.Int64
}

func (w *writeCount) CreateCall(ctx context.Context, c core.Call, out ...core.WebhookDelivery) error {
	w.n.Add(1)
	return w.Store.CreateCall(ctx, c, out...)
}

func (w *writeCount) UpdateCall(ctx context.Context, c core.Call, out ...core.WebhookDelivery) error {
	w.n.Add(1)
	return w.Store.UpdateCall(ctx, c, out...)
}

func (w *writeCount) SaveTransfer(ctx context.Context, t core.Transfer, out ...core.WebhookDelivery) error {
	w.n.Add(1)
	return w.Store.SaveTransfer(ctx, t, out...)
}

func (w *writeCount) SaveTransferAndCall(ctx context.Context, t core.Transfer, c core.Call, out ...core.WebhookDelivery) error {
	w.n.Add(1)
	return w.Store.SaveTransferAndCall(ctx, t, c, out...)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSIP plays a caller's UA that accepts every REFER and sends the
// NOTIFYs of a transfer answered at once, and the SIP layer's handling of
// them: the 202 first, then the NOTIFYs 100, 180 and 200, each sent once
// the one before is answered, which the SIP layer does before it reports
// it; NOTIFYs that arrive while one is reported are reported together
// next (sip.UA.reportNotifies). ended is told of each call's end.
type benchSIP struct {
	scriptedSIP
	calls *core.Calls
	ended func(callID string)
}

func (s *benchSIP) ReferTo(_ context.Context, callID string, _ core.ReferTarget) (int, error) {
	q := &notifyQueue{calls: s.calls, callID: callID}
	go func() {
		var wg sync.WaitGroup
		for _, status := range []int{100, 180, 200} {
			wg.Go(func() { q.report(core.ReferProgress{Status: status}) })
			runtime.Gosched() // the next NOTIFY comes after this one's answer
		}
		wg.Wait()
	}()
	return 202, nil
}

func (s *benchSIP) Hangup(ctx context.Context, callID string) error {
	s.calls.CallEnded(ctx, callID, core.EndAssistantHangup)
	s.ended(callID)
	return nil
}

// notifyQueue reports a call's NOTIFYs as the SIP layer does: the first
// reports, those that arrive meanwhile queue and go together next.
type notifyQueue struct {
	calls     *core.Calls
	callID    string
	mu        sync.Mutex
	queued    []core.ReferProgress
	reporting bool
}

func (q *notifyQueue) report(p core.ReferProgress) {
	q.mu.Lock()
	q.queued = append(q.queued, p)
	if q.reporting {
		q.mu.Unlock()
		return
	}
	q.reporting = true
	for len(q.queued) > 0 {
		batch := q.queued
		q.queued = nil
		q.mu.Unlock()
		q.calls.TransferProgress(context.Background(), q.callID, batch...)
		q.mu.Lock()
	}
	q.reporting = false
	q.mu.Unlock()
}
