package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// callWatch learns of a server's calls the way an MCP client does: their
// ids and states come from list_calls and get_call, looked at again when
// the server signals a change.
//
// The signals: resources/updated of voicedock://calls (subscribed here)
// and resources/list_changed reach a stdio client on the session protocol,
// which most tests speak. A client on streamable HTTP without a GET
// stream, or on the 2026-07-28 protocol without a subscriptions/listen
// stream, hears nothing outside its own requests, and a call's move from
// ringing to in-progress changes no resource list; for those the server's
// log line for the change is a hint to look again, and a slow backstop
// look covers a hint that never comes. Neither decides anything: only
// what the API answers does.
type callWatch struct {
	c    *client.Client
	logs *syncBuffer

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every notification
	seen    map[string]bool
	logOff  map[*regexp.Regexp]int // where each hint was last found in logs
}

// backstop is the longest wait between two looks. Looks cost requests,
// and a server on HTTP rate-limits them (100 a minute by default).
const backstop = time.Second

var (
	hintAnswered = regexp.MustCompile(`msg="call answered"`)
	hintEnded    = regexp.MustCompile(`msg="(call ended|transfer leg ended)"`)
)

// watchCalls subscribes c to the live calls (voicedock://calls); logs is
// the server's log, for hints.
func watchCalls(t *testing.T, c *client.Client, logs *syncBuffer) *callWatch {
	t.Helper()
	w := &callWatch{c: c, logs: logs, changed: make(chan struct{}), seen: map[string]bool{}, logOff: map[*regexp.Regexp]int{}}
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		switch n.Method {
		case mcp.MethodNotificationResourceUpdated, mcp.MethodNotificationResourcesListChanged:
			w.mu.Lock()
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// On the 2026-07-28 protocol this only records the URI for a later
	// subscriptions/listen, which the tests do not open here.
	//lint:ignore SA1019 the session-based protocol (2025-11-25) that most tests speak subscribes this way
	if err := c.Subscribe(ctx, mcp.SubscribeRequest{Params: mcp.SubscribeParams{URI: "voicedock://calls"}}); err != nil {
		t.Fatalf("subscribe to voicedock://calls: %v", err)
	}
	return w
}

// until returns once done reports true. It looks when called, then again
// after each notification, each new match of hint in the server's log, or
// backstop; at the deadline it fails the test with describe's account of
// what it last saw.
func (w *callWatch) until(t *testing.T, timeout time.Duration, hint *regexp.Regexp, done func() bool, describe func() string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		notified := w.changed
		w.mu.Unlock()
		logged := w.logs.changes()
		if done() {
			return
		}
		backstopTimer := time.NewTimer(backstop)
	wait:
		for {
			select {
			case <-notified:
				break wait
			case <-backstopTimer.C:
				break wait
			case <-logged:
				if w.hinted(hint) {
					break wait
				}
				logged = w.logs.changes()
			case <-deadline.C:
				backstopTimer.Stop()
				t.Fatal(describe())
			}
		}
		backstopTimer.Stop()
	}
}

// hinted reports whether hint matches the log past where it last did,
// and moves past the match.
func (w *callWatch) hinted(hint *regexp.Regexp) bool {
	text := w.logs.String()
	from := min(w.logOff[hint], len(text))
	loc := hint.FindStringIndex(text[from:])
	if loc == nil {
		return false
	}
	w.logOff[hint] = from + loc[1]
	return true
}

// nextAnswered waits for a call answered (it has started_at) that this
// watch has not returned before, the oldest first, and returns its id.
func (w *callWatch) nextAnswered(t *testing.T, timeout time.Duration) string {
	t.Helper()
	var id string
	var last []any
	w.until(t, timeout, hintAnswered, func() bool {
		last = w.unseen(t)
		for i := len(last) - 1; i >= 0; i-- { // newest first: look from the oldest
			c, _ := last[i].(map[string]any)
			cid, _ := c["id"].(string)
			if _, answered := c["started_at"]; answered {
				w.seen[cid] = true
				id = cid
				return true
			}
		}
		return false
	}, func() string {
		b, _ := json.Marshal(last)
		return "no call was answered; the calls not returned yet: " + string(b) + "\nserver log:\n" + w.logs.String()
	})
	return id
}

// unseen lists, newest first, the calls newer than the newest this watch
// has returned: a page at a time from the newest, so that a look stays
// short however many calls a test has made.
func (w *callWatch) unseen(t *testing.T) []any {
	t.Helper()
	const page = 10
	var out []any
	for offset := 0; ; offset += page {
		r := mustCall(t, w.c, "list_calls", `{"limit":`+strconv.Itoa(page)+`,"offset":`+strconv.Itoa(offset)+`}`)
		calls, _ := r.structured["calls"].([]any)
		for _, c := range calls {
			m, _ := c.(map[string]any)
			if id, _ := m["id"].(string); w.seen[id] {
				return out
			}
			out = append(out, c)
		}
		if len(calls) < page {
			return out
		}
	}
}

// ended waits for the call to end (it has ended_at) and returns its status
// and end_reason.
func (w *callWatch) ended(t *testing.T, callID string, timeout time.Duration) (string, string) {
	t.Helper()
	got := w.getCallUntil(t, callID, "to end", timeout, func(r toolResult) bool {
		return field(r, "call", "ended_at") != ""
	})
	return field(got, "call", "status"), field(got, "call", "end_reason")
}

// getCallUntil waits until get_call's answer for callID satisfies ok and
// returns it; what says what was awaited, for the failure. The server's
// log lines for a call or a transfer leg ending are its hints.
func (w *callWatch) getCallUntil(t *testing.T, callID, what string, timeout time.Duration, ok func(toolResult) bool) toolResult {
	t.Helper()
	var got toolResult
	w.until(t, timeout, hintEnded, func() bool {
		got = mustCall(t, w.c, "get_call", `{"id":"`+callID+`"}`)
		return ok(got)
	}, func() string {
		return "call " + callID + ": waited " + timeout.String() + " " + what + "; get_call: " + string(got.json) + "\nserver log:\n" + w.logs.String()
	})
	return got
}

// changes returns a channel closed at the log's next write.
func (b *syncBuffer) changes() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.changed
}
