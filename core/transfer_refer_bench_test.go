package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
	"github.com/voicedock/voicedock/webhooks"
)

// BenchmarkTransferToRefer measures, at 200 transfers a second, the time
// from a transfer's request (Calls.Transfer called, as the transfer_call
// tool does) to its REFER handed to the SIP layer: the policy check, the
// routing reads (assistant, number, trunk) and the transfer's first write
// with its webhook rows, while the store also commits the other calls'
// steps (the NOTIFYs 100, 180 and 200 of each transfer, as the SIP layer
// reports them), their status changes and the webhook dispatcher's claims
// and outcomes (the real dispatcher, delivering to a local receiver).
// Each iteration is 2 s of that (400 transfers); the metrics are the
// percentiles over all iterations, in milliseconds.
func BenchmarkTransferToRefer(b *testing.B) {
	const rate = 200
	ctx := b.Context()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "vd.db"), make([]byte, 32), logger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.Cleanup(hook.Close)
	config := core.NewConfigCache(st)
	svc := core.NewConfiguration(config, logger)
	configureTransferLine(b, svc)
	policy, err := core.NewPolicy(core.PolicyConfig{AllowedCountries: []string{"*"}})
	if err != nil {
		b.Fatal(err)
	}
	svc.SetPolicy(policy)
	calls := core.NewCalls(ctx, core.CallsConfig{TransferTimeout: 30 * time.Second, Policy: policy, DefaultWebhookURL: hook.URL}, config, st, core.NewBus(), logger)
	dispatcher := webhooks.NewDispatcher(st, nil, webhooks.Config{}, logger)
	dctx, stop := context.WithCancel(context.Background())
	dispatched := make(chan struct{})
	go func() { _ = dispatcher.Run(dctx); close(dispatched) }()
	b.Cleanup(func() { stop(); <-dispatched })

	var (
		mu       sync.Mutex
		referred = map[string]time.Time{}
	)
	sip := &scriptedSIP{calls: calls}
	sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		mu.Lock()
		referred[callID] = time.Now()
		mu.Unlock()
		// The NOTIFYs of the transfer, as sipgo hands them to the core.
		go func() {
			for _, status := range []int{100, 180, 200} {
				calls.TransferProgress(context.Background(), callID, core.ReferProgress{Status: status})
			}
		}()
		return 202, nil
	}
	calls.SetSignaling(sip)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		calls.Shutdown(ctx)
	})

	var lat []time.Duration
	n := 0
	for b.Loop() {
		var wg sync.WaitGroup
		arrivals := make(map[string]time.Time, 2*rate)
		tick := time.NewTicker(time.Second / rate)
		for range 2 * rate {
			<-tick.C
			n++
			dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: fmt.Sprintf("c%d", n), Called: "31850835037", Caller: "+31611122233",
				Source: netip.MustParseAddrPort("127.0.0.1:5099")})
			if dec.CallID == "" {
				b.Fatalf("call refused: %+v", dec)
			}
			calls.CallAnswered(ctx, dec.CallID)
			at := time.Now()
			arrivals[dec.CallID] = at
			wg.Go(func() {
				if _, err := calls.Transfer(ctx, core.TransferRequest{CallID: dec.CallID, Destination: "+31612345678", RequestedBy: "bench"}, nil); err != nil {
					b.Errorf("transfer: %v", err)
				}
			})
		}
		tick.Stop()
		wg.Wait()
		mu.Lock()
		for id, at := range arrivals {
			lat = append(lat, referred[id].Sub(at))
		}
		mu.Unlock()
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}
