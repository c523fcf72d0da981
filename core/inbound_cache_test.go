package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// An inbound INVITE looks the number it called up through the cache: the
// second call reads nothing; a number deleted through the configuration
// service (the cache drops itself) is no longer answered, and a drop
// from outside (another node's change) is read again.
func TestInboundCallReadsTheCachedNumber(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	st := openStore(t)
	counting := &countingStore{Store: st}
	cache := core.NewConfigCache(counting)
	svc := core.NewConfiguration(cache, logger)
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A"})
	if err != nil {
		t.Fatal(err)
	}
	// The caller's source is allowed as the number's trunk's host.
	tr, _, err := svc.ConfigureTrunk(ctx, "", core.TrunkConfig{Name: "pbx", Host: "127.0.0.1", Port: 5070, Transport: "udp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	n, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID, TransferTrunkID: &tr.ID})
	if err != nil {
		t.Fatal(err)
	}
	calls := core.NewCalls(ctx, core.CallsConfig{}, cache, st, core.NewBus(), logger)
	t.Cleanup(func() { calls.Shutdown(context.Background()) })

	k := 0
	offer := func() (core.OfferDecision, int64) {
		k++
		before := counting.finds.Load()
		dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: fmt.Sprintf("c%d", k), Called: "31850835037", Caller: "+31611122233",
			Source: netip.MustParseAddrPort("127.0.0.1:5099")})
		return dec, counting.finds.Load() - before
	}
	if dec, r := offer(); dec.CallID == "" || r != 1 {
		t.Fatalf("first call: %+v, %d lookups, want answered after one", dec, r)
	}
	if dec, r := offer(); dec.CallID == "" || r != 0 {
		t.Fatalf("second call: %+v, %d lookups, want answered from the cache", dec, r)
	}
	svc.ChangedElsewhere("phone_numbers")
	if dec, r := offer(); dec.CallID == "" || r != 1 {
		t.Fatalf("after a change elsewhere: %+v, %d lookups, want one", dec, r)
	}
	if err := svc.DeletePhoneNumber(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if dec, _ := offer(); dec.RejectStatus != 404 {
		t.Fatalf("after the number was deleted: %+v, want 404", dec)
	}
}

// BenchmarkOfferCall is an inbound INVITE's decision and its call's
// first write, with the called number read from the store (as before the
// cache served it) and from the cache.
func BenchmarkOfferCall(b *testing.B) {
	ctx := b.Context()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "vd.db"), make([]byte, 32), logger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cache := core.NewConfigCache(st)
	svc := core.NewConfiguration(cache, logger)
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A"})
	if err != nil {
		b.Fatal(err)
	}
	tr, _, err := svc.ConfigureTrunk(ctx, "", core.TrunkConfig{Name: "pbx", Host: "127.0.0.1", Port: 5070, Transport: "udp"}, false)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID, TransferTrunkID: &tr.ID}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		store core.Store
	}{{"store", st}, {"cache", cache}} {
		b.Run(bc.name, func(b *testing.B) {
			calls := core.NewCalls(ctx, core.CallsConfig{}, bc.store, st, core.NewBus(), logger)
			b.Cleanup(func() { calls.Shutdown(context.Background()) })
			k := 0
			b.ReportAllocs()
			for b.Loop() {
				k++
				dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: fmt.Sprintf("%s%d", bc.name, k), Called: "31850835037",
					Caller: "+31611122233", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
				if dec.CallID == "" {
					b.Fatalf("refused: %+v", dec)
				}
			}
		})
	}
}
