package core

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// mapWebhookBody is webhookBody as it was, through a map: the reference
// for the bytes webhookBody writes.
func mapWebhookBody(event string, at time.Time, c Call, extra map[string]any) ([]byte, error) {
	msg := map[string]any{
		"type":         event,
		"timestamp":    at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"call":         webhookCall{Call: c, Type: callType(c)},
		"customer":     map[string]any{"number": c.CallerPhone},
		"phone_number": map[string]any{"id": c.NumberID, "number": c.AgentPhone},
	}
	if c.Direction == DirectionOutbound {
		msg["customer"] = map[string]any{"number": c.AgentPhone}
		msg["phone_number"] = map[string]any{"id": c.NumberID, "number": c.CallerPhone}
	}
	for k, v := range extra {
		msg[k] = v
	}
	return json.Marshal(map[string]any{"message": msg})
}

// TestWebhookBodyBytes: the body webhookBody writes member by member is
// byte for byte the one the map made (receivers that verify a signature
// over it, or compare bodies, see no change).
func TestWebhookBodyBytes(t *testing.T) {
	in := benchCall()
	out := benchCall()
	out.Direction, out.CallerPhone, out.AgentPhone = DirectionOutbound, "+31850835037", "+31611122233<&>"
	ended := benchCall()
	now := time.Now()
	ended.Status, ended.EndedAt, ended.EndReason = CallEnded, &now, "customer-ended-call"
	ended.Transfers = []Transfer{{ID: "t", CallID: ended.ID, Destination: "+31612345678", Status: TransferCompleted,
		Steps: []TransferStep{{Status: TransferRequested, At: now}, {Status: TransferCompleted, At: now}}}}
	tr := ended.Transfers[0]
	for _, tc := range []struct {
		name  string
		event string
		c     Call
		extra map[string]any
	}{
		{"status", WebhookStatusUpdate, in, nil},
		{"outbound", WebhookStatusUpdate, out, nil},
		{"transfer", WebhookTransferUpdate, in, map[string]any{"transfer": tr}},
		{"report", WebhookEndOfCallReport, ended, map[string]any{"ended_reason": "customer-ended-call", "summary": "a <b> & c", "transcript": []string{"x"}}},
		{"overrides", WebhookDTMF, in, map[string]any{"type": "other", "digit": map[string]string{"digit": "5"}, "a": 1}},
	} {
		got, err := webhookBody(tc.event, now, tc.c, tc.extra)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want, err := mapWebhookBody(tc.event, now, tc.c, tc.extra)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, want)
		}
	}
}
