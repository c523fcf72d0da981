package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// crashHooks is a webhook receiver on loopback that keeps every request it
// was sent, duplicates included, and can be down or slow.
type crashHooks struct {
	mu      sync.Mutex
	got     []hookEvent
	down    bool          // answer 503 (nothing is recorded)
	delay   time.Duration // before answering
	waiting int           // requests held in their delay now
	arrived chan struct{}
	srv     *httptest.Server
}

type hookEvent struct {
	id, event, callID, status string
}

// key is what makes an event the same event: a second delivery of it
// must carry the same X-Webhook-Id.
func (e hookEvent) key() string { return e.callID + " " + e.event + " " + e.status }

func newCrashHooks(t *testing.T) *crashHooks {
	h := &crashHooks{arrived: make(chan struct{}, 10000)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		down, delay := h.down, h.delay
		h.mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if delay > 0 {
			h.mu.Lock()
			h.waiting++
			h.mu.Unlock()
			h.arrived <- struct{}{}
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
			}
			h.mu.Lock()
			h.waiting--
			h.mu.Unlock()
			if r.Context().Err() != nil {
				return
			}
		}
		var msg struct {
			Message struct {
				Call struct {
					ID     string `json:"id"`
					Status string `json:"status"`
				} `json:"call"`
				Transfer *struct {
					Status string `json:"status"`
				} `json:"transfer"`
			} `json:"message"`
		}
		json.Unmarshal(body, &msg)
		e := hookEvent{id: r.Header.Get("X-Webhook-Id"), event: r.Header.Get("X-Webhook-Event"),
			callID: msg.Message.Call.ID, status: msg.Message.Call.Status}
		if msg.Message.Transfer != nil {
			e.status = "transfer:" + msg.Message.Transfer.Status
		}
		h.mu.Lock()
		h.got = append(h.got, e)
		h.mu.Unlock()
		h.arrived <- struct{}{}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *crashHooks) set(down bool, delay time.Duration) {
	h.mu.Lock()
	h.down, h.delay = down, delay
	h.mu.Unlock()
}

// inFlight is the number of requests held in their delay now.
func (h *crashHooks) inFlight() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiting
}

func (h *crashHooks) events() []hookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookEvent(nil), h.got...)
}

// waitFor waits, with a deadline, until ok holds of the events received.
func (h *crashHooks) waitFor(t *testing.T, what string, timeout time.Duration, ok func([]hookEvent) bool) []hookEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		evs := h.events()
		if ok(evs) {
			return evs
		}
		select {
		case <-h.arrived:
		case <-deadline:
			t.Fatalf("webhook receiver never got %s; got %d events", what, len(evs))
		}
	}
}

// checkOnce fails for an event delivered under two different ids.
func checkOnce(t *testing.T, evs []hookEvent) {
	t.Helper()
	ids := map[string]string{}
	for _, e := range evs {
		if prev, ok := ids[e.key()]; ok && prev != e.id {
			t.Errorf("%s delivered twice with different ids (%s, %s)", e.key(), prev, e.id)
		}
		ids[e.key()] = e.id
	}
}

// storedDeliveries lists every delivery the store holds for the call.
func storedDeliveries(t *testing.T, c *client.Client, callID string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for offset := 0; ; offset += 100 {
		r := mustCall(t, c, "list_webhook_deliveries", fmt.Sprintf(`{"call_id":%q,"limit":100,"offset":%d}`, callID, offset))
		page, _ := r.structured["deliveries"].([]any)
		for _, d := range page {
			out = append(out, d.(map[string]any))
		}
		if len(page) < 100 {
			return out
		}
	}
}

// allDelivered waits until the receiver has every stored delivery of
// the calls, and returns what it got.
func allDelivered(t *testing.T, c *client.Client, h *crashHooks, callIDs []string) []hookEvent {
	t.Helper()
	want := map[string]bool{}
	for _, id := range callIDs {
		for _, d := range storedDeliveries(t, c, id) {
			want[d["id"].(string)] = true
		}
	}
	// A delivery pending at the kill is retried after its backoff, and
	// one in flight when its claim runs out: allow for both.
	return h.waitFor(t, fmt.Sprintf("all %d stored deliveries", len(want)), 90*time.Second, func(evs []hookEvent) bool {
		seen := map[string]bool{}
		for _, e := range evs {
			seen[e.id] = true
		}
		for id := range want {
			if !seen[id] {
				return false
			}
		}
		return true
	})
}

// kill stops the server with SIGKILL: nothing of it runs after.
func kill(t *testing.T, cmd interface {
	Signal(os.Signal) error
}) {
	t.Helper()
	if err := cmd.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
}

// TestCrashMidTransfers kills the server while transfers are under way
// (REFER accepted, the first NOTIFY in, the next on its way) and its
// webhooks are all still pending, and starts it again: every transfer
// ends canceled (the server stopped during it), every call is recorded
// ended server_restart, every event stored before the kill reaches the
// receiver afterwards, and none twice with different ids.
func TestCrashMidTransfers(t *testing.T) {
	t.Parallel()
	const calls = 3
	hooks := newCrashHooks(t)
	hooks.set(true, 0) // down: everything stays in the outbox
	dir := t.TempDir()
	env := []string{"VOICEDOCK_WEBHOOK_URL=" + hooks.srv.URL, "VOICEDOCK_TRANSFER_TIMEOUT=2m",
		"VOICEDOCK_WEBHOOK_TIMEOUT=2s", "VOICEDOCK_CALL_COMMANDS_PER_MINUTE=0"}
	url, logs, cmd := httpServerProcess(t, dir, env...)
	c := httpClient(t, url, nil)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configureMessage(t, sipptest.FreePort(t), "")

	var ids []string
	for i := range calls {
		sipptest.Start(t, "uac_transfer_slow_notify.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-set", "caller", "+3161000000"+strconv.Itoa(i))
		ids = append(ids, line.answered(t))
	}
	// The transfers run until the kill: their requests end with it.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for _, id := range ids {
		go func() {
			req := mcp.CallToolRequest{}
			req.Params.Name = "transfer_call"
			req.Params.Arguments = map[string]any{"call_id": id, "destination": salesNumber}
			c.CallTool(ctx, req)
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for transferStatus(t, c, id) != "trying" {
			if time.Now().After(deadline) {
				t.Fatalf("call %s: transfer never reached trying\n%s", id, logs)
			}
			time.Sleep(50 * time.Millisecond) // polling get_call: the server has no event to wait on here
		}
	}
	kill(t, cmd.Process)
	cmd.Wait()
	cancel()

	hooks.set(false, 0)
	url2, logs2 := httpServer(t, dir, env...)
	c2 := httpClient(t, url2, nil)
	for _, id := range ids {
		got := mustCall(t, c2, "get_call", `{"id":"`+id+`"}`)
		call := got.structured["call"].(map[string]any)
		if call["status"] != "ended" || call["end_reason"] != "server_restart" || call["ended_at"] == nil {
			t.Errorf("call %s after the restart: %s", id, got.json)
		}
		trs, _ := call["transfers"].([]any)
		if len(trs) != 1 {
			t.Fatalf("call %s: %d transfers", id, len(trs))
		}
		if tr := trs[0].(map[string]any); tr["status"] != "canceled" || tr["reason"] != core.TransferStoppedReason {
			t.Errorf("transfer of %s after the restart: %v", id, tr)
		}
	}
	evs := allDelivered(t, c2, hooks, ids)
	checkOnce(t, evs)
	for _, id := range ids {
		for _, want := range []string{"status-update ringing", "status-update in-progress", "status-update ended",
			"transfer-update transfer:trying", "transfer-update transfer:canceled", "end-of-call-report ended"} {
			if !hasKey(evs, id+" "+want) {
				t.Errorf("call %s: no %s among the deliveries\n%s", id, want, logs2)
			}
		}
	}
}

// TestCrashDuringWebhookBurst kills the server while a burst of calls'
// webhooks is being delivered to a slow receiver, some in flight, and
// starts it again: every call is recorded ended, every stored event is
// delivered, none twice with different ids.
func TestCrashDuringWebhookBurst(t *testing.T) {
	t.Parallel()
	hooks := newCrashHooks(t)
	hooks.set(false, 150*time.Millisecond)
	dir := t.TempDir()
	env := []string{"VOICEDOCK_WEBHOOK_URL=" + hooks.srv.URL, "VOICEDOCK_WEBHOOK_TIMEOUT=2s",
		"VOICEDOCK_WEBHOOK_CONCURRENCY=4", "VOICEDOCK_SIP_RATE_LIMIT=0"}
	url, logs, cmd := httpServerProcess(t, dir, env...)
	c := httpClient(t, url, nil)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, sipptest.FreePort(t))

	// 24 calls at 12 a second, each talking 300 ms: about 100 events
	// for a receiver that takes 40 a second.
	sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{Calls: 24}, "-s", calledUser, "-r", "12", "-d", "300", "-l", "24")
	hooks.waitFor(t, "the burst's first deliveries", 30*time.Second, func(evs []hookEvent) bool { return len(evs) >= 12 })
	kill(t, cmd.Process)
	cmd.Wait()

	url2, _ := httpServer(t, dir, env...)
	c2 := httpClient(t, url2, nil)
	list := mustCall(t, c2, "list_calls", `{"limit":100}`)
	var ids []string
	for _, x := range list.structured["calls"].([]any) {
		call := x.(map[string]any)
		ids = append(ids, call["id"].(string))
		switch call["status"] {
		case "ringing", "in-progress", "dialing":
			t.Errorf("call %s still %s after the restart", call["id"], call["status"])
		}
	}
	if len(ids) == 0 {
		t.Fatal("no calls on record")
	}
	hooks.set(false, 0)
	evs := allDelivered(t, c2, hooks, ids)
	checkOnce(t, evs)
	for _, id := range ids {
		n := 0
		for _, e := range evs {
			if e.callID == id && e.event == "end-of-call-report" {
				n++
			}
		}
		if n == 0 {
			t.Errorf("call %s: no end-of-call report", id)
		}
	}
}

func hasKey(evs []hookEvent, key string) bool {
	for _, e := range evs {
		if e.key() == key {
			return true
		}
	}
	return false
}

// transferStatus is the status of the call's latest transfer, "" when none.
func transferStatus(t *testing.T, c *client.Client, callID string) string {
	t.Helper()
	got := mustCall(t, c, "get_call", `{"id":"`+callID+`"}`)
	trs, _ := got.structured["call"].(map[string]any)["transfers"].([]any)
	if len(trs) == 0 {
		return ""
	}
	s, _ := trs[len(trs)-1].(map[string]any)["status"].(string)
	return s
}
