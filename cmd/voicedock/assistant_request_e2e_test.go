package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// replier answers assistant-request webhooks with a fixed reply.
func replier(t *testing.T, reply string) (*httptest.Server, chan map[string]any) {
	got := make(chan map[string]any, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Webhook-Event") != "assistant-request" {
			return // status updates and the like
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		got <- m
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// TestAssistantRequestPicksTheAssistant: a number with no assistant asks
// the deployment webhook, whose reply picks one; the call is answered.
func TestAssistantRequestPicksTheAssistant(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c0, _ := stdioServerVersion(t, "2025-11-25", dir)
	a := mustCall(t, c0, "create_assistant", `{"name":"Picked","first_message":"Picked by the webhook"}`)
	c0.Close()
	srv, got := replier(t, `{"assistant_id":"`+field(a, "assistant", "id")+`"}`)
	c, logs := stdioServerVersion(t, "2025-11-25", dir, "VOICEDOCK_WEBHOOK_URL="+srv.URL)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(sipptest.FreePort(t))+`}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	caller := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-d", "500")
	callID := line.answered(t)
	req := <-got
	if msg := req["message"].(map[string]any); msg["type"] != "assistant-request" || msg["phone_number"].(map[string]any)["number"] != ourNumber {
		t.Errorf("assistant-request body: %v", req)
	}
	call := mustCall(t, c, "get_call", `{"id":"`+callID+`"}`)
	if field(call, "call", "assistant_id") != field(a, "assistant", "id") || field(call, "call", "first_message") != "Picked by the webhook" {
		t.Errorf("call: %s", call.json)
	}
	caller.Wait(t)
}

// TestAssistantRequestOverridesAndRejects: an assistant that asks for
// assistant-request gets its first_message overridden for the call, and a
// reply with an error rejects the next call with 603, on record.
func TestAssistantRequestOverridesAndRejects(t *testing.T) {
	t.Parallel()
	srv, _ := replier(t, `{"assistant":{"first_message":"Hello VIP"}}`)
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir())
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"Asks","first_message":"Hello","webhook_url":"`+srv.URL+`","webhook_events":["assistant-request"]}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(sipptest.FreePort(t))+`}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	caller := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-d", "500")
	callID := line.answered(t)
	if got := field(mustCall(t, c, "get_call", `{"id":"`+callID+`"}`), "call", "first_message"); got != "Hello VIP" {
		t.Errorf("first_message %q, want the override", got)
	}
	caller.Wait(t)

	reject, _ := replier(t, `{"error":"We are closed"}`)
	mustCall(t, c, "update_assistant", `{"id":"`+field(a, "assistant", "id")+`","webhook_url":"`+reject.URL+`"}`)
	refused := sipptest.Start(t, "uac_expect_603.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	refused.Wait(t)
	list := mustCall(t, c, "list_calls", `{"status":"rejected"}`)
	calls := list.structured["calls"].([]any)
	if len(calls) != 1 || calls[0].(map[string]any)["error"] != "We are closed" {
		t.Errorf("rejected calls: %s", list.json)
	}
}
