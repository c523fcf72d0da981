package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TestKeptStateIsWrittenByTheNextStart: a call that ends while the store
// is down, and whose process stops before the store is back, is stored
// by the next start with its real end, its line and key, and each of its
// webhooks once. Without the file, the next start's recovery ended it
// again as server_restart, and its conversation and report were lost.
func TestKeptStateIsWrittenByTheNextStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kept")
	f, store := newDownFixtureWith(t, core.CallsConfig{KeptDir: dir})
	converseWhileDown(t, f, store)
	file := filepath.Join(dir, f.callID+".json")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the kept state has no file: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.calls.Shutdown(ctx) // the store still down: the process stops with the call behind
	if c, err := f.store.GetCall(t.Context(), f.callID); err != nil || !c.Live() {
		t.Fatalf("stored before the next start: %s, %v", c.Status, err)
	}

	store.down.Store(false)
	next := core.NewCalls(t.Context(), core.CallsConfig{KeptDir: dir, DefaultWebhookURL: testHookURL}, f.store, f.store, core.NewBus(),
		slog.New(slog.NewTextHandler(newTestWriter(t), nil)))
	t.Cleanup(func() { next.Shutdown(context.Background()) })
	n, err := next.RecoverAfterRestart(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("recovery ended %d calls, want none: the kept end was written first", n)
	}
	c, err := f.store.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != core.CallEnded || c.EndReason != core.EndCallerHangup {
		t.Fatalf("stored: %s (%s), want ended by the caller", c.Status, c.EndReason)
	}
	events := checkConversationStored(t, f)
	if n := count(events, core.WebhookStatusUpdate, core.CallEnded); n != 1 {
		t.Errorf("%d status-updates of the end stored, want 1: %+v", n, events)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the file is left after the store took it: %v", err)
	}
}

// TestKeptStateOfACallAnotherNodeTookIsDropped: a node that stops with a
// call's end kept, and whose lease runs out before it is back, finds the
// call ended by the node that took it over (node_lost, with its report).
// Its kept end is dropped, not written over that one: a second
// end-of-call-report of one call.
func TestKeptStateOfACallAnotherNodeTookIsDropped(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	assistant := webhookAssistant(t, st)
	sweeper := node(t, st, "node-s", time.Hour)
	kill(t, st, "node-x")
	id := leftLive(t, st, assistant, "node-x")

	// What node-x kept when it stopped: the call ended by its caller, and
	// the report of that end.
	c, err := st.GetCall(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	c.Status, c.EndReason, c.EndedAt, c.UpdatedAt = core.CallEnded, core.EndCallerHangup, &now, now
	reportID, _ := core.NewID()
	kept := map[string]any{
		"call":       c,
		"signalling": map[string]string{"node": "node-x"},
		"webhooks": []map[string]any{{
			"id": reportID, "call_id": id, "assistant_id": assistant, "url": testHookURL, "event_type": core.WebhookEndOfCallReport,
			"status": core.DeliveryPending, "next_attempt_at": now, "created_at": now, "updated_at": now,
			"body": map[string]any{"message": map[string]any{"type": core.WebhookEndOfCallReport}},
		}},
	}
	dir := t.TempDir()
	b, err := json.Marshal(kept)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}

	if n := sweeper.SweepLostCalls(ctx); n != 1 {
		t.Fatalf("the sweep ended %d calls, want 1", n)
	}
	restarted := core.NewCalls(ctx, core.CallsConfig{KeptDir: dir}, st, st, core.NewBus(), slog.New(slog.DiscardHandler))
	if err := restarted.JoinCluster(ctx, core.NodeConfig{Node: core.Node{ID: "node-x", URL: "http://x.invalid/mcp"}, Store: st, Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restarted.Shutdown(context.Background()) })
	if _, err := restarted.RecoverAfterRestart(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.GetCall(ctx, id); c.EndReason != core.EndNodeLost {
		t.Fatalf("end stored: %s, want node_lost, as the node that took the call ended it", c.EndReason)
	}
	if _, err := st.GetDelivery(ctx, reportID); !core.HasCode(err, core.CodeNotFound) {
		t.Fatalf("the kept report was written over the other node's end: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, id+".json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the dropped file is left: %v", err)
	}
}

// TestKeptFileUnreadableIsSetAside: a damaged file does not stop the
// start, nor is it tried at every start: it is set aside.
func TestKeptFileUnreadableIsSetAside(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "call-1.json"), []byte(`{"call": {"id": "call-1"`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Whole, but of another call than its name says.
	if err := os.WriteFile(filepath.Join(dir, "call-2.json"), []byte(`{"call": {"id": "call-3", "status": "ended"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	calls := core.NewCalls(t.Context(), core.CallsConfig{KeptDir: dir}, st, st, core.NewBus(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() { calls.Shutdown(context.Background()) })
	if _, err := calls.RecoverAfterRestart(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"call-1.json.bad", "call-2.json.bad"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("not set aside: %v", err)
		}
	}
	for _, id := range []string{"call-1", "call-2", "call-3"} {
		if _, err := st.GetCall(t.Context(), id); !core.HasCode(err, core.CodeNotFound) {
			t.Errorf("call %s stored from a file set aside: %v", id, err)
		}
	}
}
