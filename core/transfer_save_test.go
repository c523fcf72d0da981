package core_test

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// writeLog is the SQLite store with its call and transfer writes logged.
type writeLog struct {
	*sqlite.Store
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) log(s string) {
	w.mu.Lock()
	w.writes = append(w.writes, s)
	w.mu.Unlock()
}

func (w *writeLog) UpdateCall(ctx context.Context, c core.Call, out ...core.WebhookDelivery) error {
	w.log("call " + c.Status)
	return w.Store.UpdateCall(ctx, c, out...)
}

func (w *writeLog) SaveTransfer(ctx context.Context, t core.Transfer, out ...core.WebhookDelivery) error {
	w.log("transfer " + t.Status)
	return w.Store.SaveTransfer(ctx, t, out...)
}

func (w *writeLog) SaveTransferAndCall(ctx context.Context, t core.Transfer, c core.Call, out ...core.WebhookDelivery) error {
	w.log("transfer " + t.Status + " with call " + c.Status)
	return w.Store.SaveTransferAndCall(ctx, t, c, out...)
}

// A completed transfer and the call's change to transferred are one
// write, with the webhook rows of both; the events come as before: the
// step (showing the call in progress), then the call's status.
func TestCompletedTransferIsOneWriteWithItsCall(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vd.db"), make([]byte, 32), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := core.NewConfiguration(st, logger)
	tr, _, err := svc.ConfigureTrunk(ctx, "", core.TrunkConfig{Name: "pbx", Host: "127.0.0.1", Port: 5070, Transport: "udp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
		Type: "transfer_call", Destinations: []core.Destination{{Type: "number", Number: "+31612345678", Description: "sales"}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID, TransferTrunkID: &tr.ID}); err != nil {
		t.Fatal(err)
	}
	policy, err := core.NewPolicy(core.PolicyConfig{AllowedCountries: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	log := &writeLog{Store: st}
	bus := core.NewBus()
	calls := core.NewCalls(ctx, core.CallsConfig{Policy: policy, AllowAdhocTransfers: true, DefaultWebhookURL: "http://127.0.0.1:9/hook"}, st, log, bus, logger)
	sip := &scriptedSIP{calls: calls}
	sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go calls.TransferProgress(context.Background(), callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	calls.SetSignaling(sip)
	t.Cleanup(func() { calls.Shutdown(context.Background()) })
	dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: "c1", Called: "31850835037", Caller: "+31611122233", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	if dec.CallID == "" {
		t.Fatalf("call refused: %+v", dec)
	}
	calls.CallAnswered(ctx, dec.CallID)
	sub := bus.Subscribe(func(e core.Event) bool { return e.Call.ID == dec.CallID })
	defer sub.Close()
	log.mu.Lock()
	log.writes = nil
	log.mu.Unlock()

	if _, err := calls.Transfer(ctx, core.TransferRequest{CallID: dec.CallID, Destination: "+31612345678"}, nil); err != nil {
		t.Fatal(err)
	}
	// The NOTIFY may overtake the 202, and "accepted" is then implied
	// rather than stored: it is left out of what is compared.
	var events []string
	for len(events) < 3 {
		select {
		case e := <-sub.C:
			s := e.Type + " " + e.Call.Status
			if e.Transfer != nil {
				s += " " + e.Transfer.Status
			}
			if e.Transfer == nil || e.Transfer.Status != core.TransferAccepted {
				events = append(events, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("events %v", events)
		}
	}
	want := []string{"transfer.step in-progress requested", "transfer.step in-progress completed", "call.status transferred"}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("events %v, want %v", events, want)
		}
	}
	log.mu.Lock()
	var writes []string
	for _, w := range log.writes {
		if w != "transfer accepted" {
			writes = append(writes, w)
		}
	}
	log.mu.Unlock()
	wantWrites := []string{"transfer requested", "transfer completed with call transferred"}
	if len(writes) < 2 || writes[0] != wantWrites[0] || writes[1] != wantWrites[1] {
		t.Fatalf("writes %v, want %v first", writes, wantWrites)
	}
	c, err := st.GetCall(ctx, dec.CallID)
	if err != nil || c.Status != core.CallTransferred || len(c.Transfers) != 1 || c.Transfers[0].Status != core.TransferCompleted {
		t.Fatalf("stored call %+v, %v", c, err)
	}
}
