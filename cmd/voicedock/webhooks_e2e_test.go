package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// receiver is a webhook endpoint in the test process.
type receiver struct {
	mu       sync.Mutex
	events   []receivedEvent
	failNext int // answer 500 to this many requests first
	arrived  chan struct{}
	srv      *httptest.Server
}

type receivedEvent struct {
	id, event, callID, status string
	transferStatus            string
	signatureOK               bool
	// attempt is the transfer's current attempt, of attempts.
	attempt, attempts int
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{arrived: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		if r.failNext > 0 {
			r.failNext--
			r.mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		ts := req.Header.Get("X-Webhook-Timestamp")
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		var msg struct {
			Message struct {
				Type string `json:"type"`
				Call struct {
					ID     string `json:"id"`
					Status string `json:"status"`
				} `json:"call"`
				Transfer struct {
					Status   string            `json:"status"`
					Attempt  int               `json:"attempt"`
					Attempts []json.RawMessage `json:"attempts"`
				} `json:"transfer"`
			} `json:"message"`
		}
		json.Unmarshal(body, &msg)
		r.events = append(r.events, receivedEvent{
			id: req.Header.Get("X-Webhook-Id"), event: req.Header.Get("X-Webhook-Event"),
			callID: msg.Message.Call.ID, status: msg.Message.Call.Status, transferStatus: msg.Message.Transfer.Status,
			attempt: msg.Message.Transfer.Attempt, attempts: len(msg.Message.Transfer.Attempts),
			signatureOK: hmac.Equal([]byte(req.Header.Get("X-Webhook-Signature")), []byte(want)) && msg.Message.Type == req.Header.Get("X-Webhook-Event"),
		})
		r.mu.Unlock()
		r.arrived <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// waitFor waits until the receiver has an event matching ok.
func (r *receiver) waitFor(t *testing.T, what string, ok func([]receivedEvent) bool) []receivedEvent {
	t.Helper()
	// A delivery in flight when a process was killed is due again when
	// its claim runs out (the timeout plus 10 s): allow for that.
	deadline := time.After(60 * time.Second)
	for {
		r.mu.Lock()
		events := append([]receivedEvent(nil), r.events...)
		r.mu.Unlock()
		if ok(events) {
			return events
		}
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("webhook receiver never got %s; got %+v", what, events)
		}
	}
}

func hasEvent(event, status string) func([]receivedEvent) bool {
	return func(evs []receivedEvent) bool {
		for _, e := range evs {
			if e.event == event && (status == "" || e.status == status || e.transferStatus == status) {
				return true
			}
		}
		return false
	}
}

// TestWebhooksFollowATransfer: an assistant's webhook hears the call's
// status changes, every transfer step and the end-of-call report, signed.
func TestWebhooksFollowATransfer(t *testing.T) {
	t.Parallel()
	const secret = "whsec-e2e-7Hq2"
	rcv := newReceiver(t, secret)
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir())
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"Hooked","webhook_url":"`+rcv.srv.URL+`","webhook_secret":"`+secret+`",
		"llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"`+salesNumber+`","description":"sales"}]}]}}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(target.Port())+`}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	if res, _ := transfer(t, c, callID, salesNumber); res.isError {
		t.Fatal(res.text)
	}
	caller.Wait(t)
	target.Wait(t)
	events := rcv.waitFor(t, "the end-of-call report", hasEvent("end-of-call-report", ""))

	var order []string
	ids := map[string]bool{}
	for _, e := range events {
		if !e.signatureOK {
			t.Errorf("bad signature on %+v", e)
		}
		if e.callID != callID {
			t.Errorf("event for another call: %+v", e)
		}
		if ids[e.id] {
			t.Errorf("X-Webhook-Id %s delivered twice", e.id)
		}
		ids[e.id] = true
		order = append(order, e.event+":"+e.status+e.transferStatus)
	}
	want := []string{"status-update:ringing", "status-update:in-progress", "transfer-update:", "status-update:transferred", "end-of-call-report:transferred"}
	for _, w := range want {
		found := false
		for _, o := range order {
			if len(o) >= len(w) && o[:len(w)] == w {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s among %q", w, order)
		}
	}
	if order[0] != "status-update:ringing" || order[len(order)-1] != "end-of-call-report:transferred" {
		t.Errorf("events out of order: %q", order)
	}
	list := mustCall(t, c, "list_webhook_deliveries", `{"call_id":"`+callID+`"}`)
	if total := list.structured["pagination"].(map[string]any)["total"]; total != float64(len(events)) {
		t.Errorf("list_webhook_deliveries total %v, receiver got %d", total, len(events))
	}
}

// TestWebhooksSurviveAKill: events written while the receiver fails are
// delivered after the server is killed with SIGKILL and started again.
func TestWebhooksSurviveAKill(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, "")
	rcv.failNext = 1 << 30 // down until further notice
	dir := t.TempDir()
	env := []string{"VOICEDOCK_WEBHOOK_URL=" + rcv.srv.URL}
	url, logs, cmd := httpServerProcess(t, dir, env...)
	c := httpClient(t, url, nil)
	mustCall(t, c, "create_assistant", `{"name":"A"}`)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, sipptest.FreePort(t))
	caller := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	caller.Wait(t)
	line.ended(t, callID)
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	rcv.mu.Lock()
	rcv.failNext = 0
	rcv.mu.Unlock()
	httpServer(t, dir, env...)
	rcv.waitFor(t, "every event of the call", func(evs []receivedEvent) bool {
		return hasEvent("status-update", "ringing")(evs) && hasEvent("status-update", "in-progress")(evs) &&
			hasEvent("status-update", "ended")(evs) && hasEvent("end-of-call-report", "")(evs)
	})
}
