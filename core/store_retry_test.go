package core_test

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// failingStore is the SQLite store whose call and transfer writes fail
// before they are tried: the next few (failures), as a store does for a
// moment (a lock, a lost connection, a file it could not open), or every
// one while down, as a store does that is down for longer than a write
// waits (a database failing over, a full disk). A transfer's first write
// and the conversation's rows fail only while down.
type failingStore struct {
	*sqlite.Store
	failures atomic.Int32 // writes still to fail
	down     atomic.Bool
	failed   atomic.Int32 // writes failed so far
	// lostAnswers are the next call updates that are stored and then
	// fail, as a write whose connection is cut as the database commits;
	// readFailures the next deliveries read back that fail.
	lostAnswers  atomic.Int32
	readFailures atomic.Int32
}

var errStore = errors.New("unable to open database file (14)")

// fail says whether a write fails; counted writes take one of failures.
func (s *failingStore) fail(counted bool) error {
	if s.down.Load() || (counted && s.failures.Add(-1) >= 0) {
		s.failed.Add(1)
		return errStore
	}
	return nil
}

func (s *failingStore) UpdateCall(ctx context.Context, c core.Call, out ...core.WebhookDelivery) error {
	if err := s.fail(true); err != nil {
		return err
	}
	err := s.Store.UpdateCall(ctx, c, out...)
	if err == nil && s.lostAnswers.Add(-1) >= 0 {
		s.failed.Add(1)
		return errStore
	}
	return err
}

func (s *failingStore) SaveTransfer(ctx context.Context, t core.Transfer, out ...core.WebhookDelivery) error {
	if err := s.fail(false); err != nil {
		return err
	}
	return s.Store.SaveTransfer(ctx, t, out...)
}

func (s *failingStore) AddTranscriptLine(ctx context.Context, l core.TranscriptLine, out ...core.WebhookDelivery) error {
	if err := s.fail(false); err != nil {
		return err
	}
	return s.Store.AddTranscriptLine(ctx, l, out...)
}

func (s *failingStore) AddDigit(ctx context.Context, d core.Digit, out ...core.WebhookDelivery) error {
	if err := s.fail(false); err != nil {
		return err
	}
	return s.Store.AddDigit(ctx, d, out...)
}

func (s *failingStore) GetDelivery(ctx context.Context, id string) (core.WebhookDelivery, error) {
	if s.readFailures.Add(-1) >= 0 {
		return core.WebhookDelivery{}, context.DeadlineExceeded
	}
	return s.Store.GetDelivery(ctx, id)
}

func (s *failingStore) SaveTransferAndCall(ctx context.Context, t core.Transfer, c core.Call, out ...core.WebhookDelivery) error {
	if err := s.fail(true); err != nil {
		return err
	}
	return s.Store.SaveTransferAndCall(ctx, t, c, out...)
}

// TestStateWritesFailingForAMomentAreTriedAgain: a call's end and a
// transfer's final step, with the webhooks written with them, are stored
// even when their writes fail a few times first; they were logged and
// lost, end-of-call-report and all.
func TestStateWritesFailingForAMomentAreTriedAgain(t *testing.T) {
	var store *failingStore
	f := newFixtureWrapped(t, core.CallsConfig{}, core.NewBus(), func(st *sqlite.Store) core.CallStore {
		store = &failingStore{Store: st}
		return store
	})
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	// The transfer's final step and the call's change are one write.
	store.failures.Store(3)
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	if err != nil || tr.Status != core.TransferCompleted {
		t.Fatalf("transfer: %v, %+v", err, tr)
	}
	if n := store.failed.Load(); n != 3 {
		t.Fatalf("%d writes failed, want 3", n)
	}
	c, err := f.store.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != core.CallTransferred || len(c.Transfers) != 1 || c.Transfers[0].Status != core.TransferCompleted {
		t.Fatalf("stored: call %s with %d transfers (%+v)", c.Status, len(c.Transfers), c.Transfers)
	}

	// A call's end on its own.
	second := f.calls.OfferCall(t.Context(), core.InboundInvite{SIPCallID: "c2", Called: "31850835037", Caller: "+31611122244", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	f.calls.CallAnswered(t.Context(), second.CallID)
	store.failed.Store(0)
	store.failures.Store(2)
	f.calls.CallEnded(t.Context(), second.CallID, core.EndCallerHangup)
	if n := store.failed.Load(); n != 2 {
		t.Fatalf("%d writes failed, want 2", n)
	}
	c, err = f.store.GetCall(t.Context(), second.CallID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != core.CallEnded || c.EndReason != core.EndCallerHangup {
		t.Fatalf("stored: call %s (%s), want ended by the caller", c.Status, c.EndReason)
	}
}
