package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// countingStore counts the configuration reads that reach the store.
type countingStore struct {
	core.Store
	assistants, numbers, trunks atomic.Int64
	// finds counts the lookups of a number by its E.164 form.
	finds atomic.Int64
}

func (s *countingStore) GetAssistant(ctx context.Context, id string) (core.Assistant, error) {
	s.assistants.Add(1)
	return s.Store.GetAssistant(ctx, id)
}

func (s *countingStore) GetPhoneNumber(ctx context.Context, id string) (core.PhoneNumber, error) {
	s.numbers.Add(1)
	return s.Store.GetPhoneNumber(ctx, id)
}

func (s *countingStore) FindPhoneNumber(ctx context.Context, e164 string) (core.PhoneNumber, error) {
	s.finds.Add(1)
	return s.Store.FindPhoneNumber(ctx, e164)
}

func (s *countingStore) GetTrunk(ctx context.Context, id string) (core.Trunk, error) {
	s.trunks.Add(1)
	return s.Store.GetTrunk(ctx, id)
}

// A transfer reads the call's number and trunk (and, for a call that came
// without one, its assistant) through the cache: the second transfer reads nothing from the store; a trunk changed
// through the configuration service (the cache drops itself) or a drop
// from outside (Invalidate, another node's change) is read again, and the
// REFER goes where the trunk now points.
func TestTransferReadsTheCachedConfiguration(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	st := openStore(t)
	counting := &countingStore{Store: st}
	cache := core.NewConfigCache(counting)
	svc := core.NewConfiguration(cache, logger)
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
		Type: "transfer_call", Destinations: []core.Destination{{Type: "number", Number: "+31612345678", Description: "sales"}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	trunk := core.TrunkConfig{Name: "pbx", Host: "127.0.0.1", Port: 5070, Transport: "udp"}
	tr, _, err := svc.ConfigureTrunk(ctx, "", trunk, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID, TransferTrunkID: &tr.ID}); err != nil {
		t.Fatal(err)
	}
	calls := core.NewCalls(ctx, core.CallsConfig{}, cache, st, core.NewBus(), logger)
	sip := &scriptedSIP{calls: calls}
	// Declined: the transfer fails at once and the next one may follow.
	sip.refer = func(context.Context, string, string) (int, error) { return 603, nil }
	calls.SetSignaling(sip)
	t.Cleanup(func() { calls.Shutdown(context.Background()) })

	n := 0
	reads := func() [3]int64 {
		return [3]int64{counting.assistants.Load(), counting.numbers.Load(), counting.trunks.Load()}
	}
	// transfer places a call and transfers it; it returns the Refer-To and
	// the store reads the transfer made (assistant, number, trunk).
	transfer := func() (string, [3]int64) {
		t.Helper()
		n++
		dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: fmt.Sprintf("c%d", n), Called: "31850835037", Caller: "+31611122233",
			Source: netip.MustParseAddrPort("127.0.0.1:5099")})
		if dec.CallID == "" {
			t.Fatalf("call %d refused: %+v", n, dec)
		}
		calls.CallAnswered(ctx, dec.CallID)
		before, referred := reads(), len(sip.referTos)
		_, err := calls.Transfer(ctx, core.TransferRequest{CallID: dec.CallID, Destination: "+31612345678"}, nil)
		if !core.HasCode(err, core.CodeTransferFailed) || len(sip.referTos) != referred+1 {
			t.Fatalf("transfer %d: %v (REFERs %v)", n, err, sip.referTos)
		}
		after := reads()
		return sip.referTos[referred], [3]int64{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
	}

	// An inbound call's assistant is read as the call arrives; its
	// transfer reads the number and the trunk.
	if _, r := transfer(); r != [3]int64{0, 1, 1} {
		t.Errorf("the first transfer read %v (assistant, number, trunk), want the number and trunk once", r)
	}
	if to, r := transfer(); !strings.Contains(to, "@127.0.0.1:5070") || r != [3]int64{} {
		t.Errorf("the second transfer: Refer-To %s, read %v from the store, want nothing", to, r)
	}

	trunk.Port = 5080
	if _, _, err := svc.ConfigureTrunk(ctx, tr.ID, trunk, false); err != nil {
		t.Fatal(err)
	}
	if to, r := transfer(); !strings.Contains(to, "@127.0.0.1:5080") || r[2] != 1 {
		t.Errorf("after the trunk changed: Refer-To %s, read %v", to, r)
	}

	cache.Invalidate()
	if _, r := transfer(); r != [3]int64{0, 1, 1} {
		t.Errorf("after Invalidate the transfer read %v, want the number and trunk again", r)
	}
	if _, r := transfer(); r != [3]int64{} {
		t.Errorf("cached again: read %v", r)
	}
	// Another node sharing the store changed its configuration: what
	// FollowChanges hears drops the transfer path's cache too.
	svc.ChangedElsewhere("trunks")
	if _, r := transfer(); r != [3]int64{0, 1, 1} {
		t.Errorf("after a change elsewhere the transfer read %v, want the number and trunk again", r)
	}
}
