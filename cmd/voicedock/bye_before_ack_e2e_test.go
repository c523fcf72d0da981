package main

import (
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestWebhooksByeBeforeAck: the caller's BYE overtakes the ACK of our 200
// OK. Once the 200 was sent the call was answered, so it is recorded as
// answered (started_at set) and ended by the caller, not canceled, with
// its final status-update and its end-of-call report once each.
func TestWebhooksByeBeforeAck(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, "")
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir())
	m, _ := logs.waitFor(t, sipListening, 0, 20*time.Second)
	a := mustCall(t, c, "create_assistant", `{"name":"Hooked","webhook_url":"`+rcv.srv.URL+`"}`)
	// The trunk makes 127.0.0.1 a known source; nothing is sent to it.
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":5999}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	caller := sipptest.Start(t, "uac_bye_before_ack.xml", m[1], sipptest.Options{}, "-s", calledUser)
	caller.Wait(t)
	events := rcv.waitFor(t, "the final status-update and the end-of-call report", func(evs []receivedEvent) bool {
		return hasEvent("end-of-call-report", "")(evs) && hasEvent("status-update", "ended")(evs)
	})
	var callID string
	counts := map[string]int{}
	for _, e := range events {
		callID = e.callID
		counts[e.event+":"+e.status]++
	}
	if counts["status-update:ended"] != 1 || counts["end-of-call-report:ended"] != 1 || counts["status-update:in-progress"] != 1 {
		t.Errorf("webhook events %v: want one in-progress and one ended status-update, one end-of-call report (ended)", counts)
	}
	got := mustCall(t, c, "get_call", `{"id":"`+callID+`"}`)
	if s, r, started := field(got, "call", "status"), field(got, "call", "end_reason"), field(got, "call", "started_at"); s != "ended" || r != "user_hangup" || started == "" {
		t.Errorf("call recorded as status %q, end_reason %q, started_at %q; want ended, user_hangup, a start time\n%s", s, r, started, got.json)
	}
	list := mustCall(t, c, "list_webhook_deliveries", `{"call_id":"`+callID+`"}`)
	if total := list.structured["pagination"].(map[string]any)["total"]; total != float64(len(events)) {
		t.Errorf("list_webhook_deliveries total %v, receiver got %d", total, len(events))
	}
}
