package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

func testTaskRecordRoundTrip(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	if _, err := s.TaskRecord(ctx, "nope"); !core.HasCode(err, core.CodeNotFound) {
		t.Fatalf("unknown task: %v", err)
	}
	ts := Now()
	rec := core.TaskRecord{ID: NewID(t), Owner: "key:ops", Tool: "transfer_call", CreatedAt: ts, TTL: 10 * time.Minute, Status: "working", UpdatedAt: ts}
	if err := s.SaveTaskRecord(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.TaskRecord(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, got, rec)

	// Later saves fill in the transfer and the result; who started it,
	// the tool and when are kept as first stored.
	upd := rec
	upd.Owner, upd.Tool, upd.CreatedAt = "key:other", "end_call", ts.Add(time.Hour)
	upd.CallID, upd.TransferID, upd.Status = "call-1", "tr-1", "completed"
	upd.Result = json.RawMessage(`{"content":[]}`)
	upd.UpdatedAt = ts.Add(time.Second)
	if err := s.SaveTaskRecord(ctx, upd); err != nil {
		t.Fatal(err)
	}
	got, err = s.TaskRecord(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := rec
	want.CallID, want.TransferID, want.Status, want.Result, want.UpdatedAt = "call-1", "tr-1", "completed", upd.Result, upd.UpdatedAt
	MustEqual(t, got, want)
}
