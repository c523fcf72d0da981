package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/console"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// openStore opens a real SQLite store in a temporary directory.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	dir := t.TempDir()
	key, err := sqlite.LoadOrCreateKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(t.Context(), filepath.Join(dir, "voicedock.db"), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func storeCall(t *testing.T, s *sqlite.Store, id, status string, at time.Time) core.Call {
	t.Helper()
	c := core.Call{ID: id, Direction: core.DirectionInbound, Status: status, CallerPhone: "+15550100001",
		AgentPhone: "+31850835037", CreatedAt: at, UpdatedAt: at}
	if !c.Live() {
		c.EndedAt = &at
	}
	if err := s.CreateCall(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

type sseEvent struct {
	id, name, data string
}

// sseReader reads server-sent events from a response body.
type sseReader struct {
	t  *testing.T
	sc *bufio.Scanner
}

func (r *sseReader) next() (sseEvent, bool) {
	var ev sseEvent
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				return ev, true
			}
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
	return ev, false
}

func (r *sseReader) expect(name string, v any) {
	r.t.Helper()
	ev, ok := r.next()
	if !ok {
		r.t.Fatalf("stream ended before %q", name)
	}
	if ev.name != name || ev.id == "" {
		r.t.Fatalf("got event %q (id %q) %s, want %q", ev.name, ev.id, ev.data, name)
	}
	if err := json.Unmarshal([]byte(ev.data), v); err != nil {
		r.t.Fatalf("%s data %q: %v", name, ev.data, err)
	}
}

func open(t *testing.T, ctx context.Context, url string) (*http.Response, *sseReader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, &sseReader{t: t, sc: bufio.NewScanner(resp.Body)}
}

func TestEventsSnapshotThenChanges(t *testing.T) {
	store := openStore(t)
	base := time.Now().UTC().Truncate(time.Millisecond)
	storeCall(t, store, "old-ended", core.CallEnded, base.Add(-time.Hour))
	live := storeCall(t, store, "live-1", core.CallInProgress, base)

	bus := core.NewBus()
	done := make(chan struct{})
	events := console.NewEvents(done, bus, store, console.EventsConfig{}, nil)
	srv := httptest.NewServer(events)
	defer srv.Close()

	resp, sse := open(t, t.Context(), srv.URL)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream answer %d %v", resp.StatusCode, resp.Header)
	}
	var snap struct{ Calls []core.Call }
	sse.expect("snapshot", &snap)
	if len(snap.Calls) != 2 || snap.Calls[0].ID != "live-1" || snap.Calls[1].ID != "old-ended" {
		t.Fatalf("snapshot calls %+v, want the live call first, then the recent one", snap.Calls)
	}

	// What the core publishes arrives, in order, as it is.
	ringing := core.Transfer{ID: "tr-1", CallID: live.ID, Destination: "+31612345678", DestinationType: "number",
		Status: core.TransferRinging, SIPStatus: 180, CreatedAt: base, UpdatedAt: base,
		Steps: []core.TransferStep{{Status: core.TransferRequested, At: base}, {Status: core.TransferRinging, SIPStatus: 180, At: base}}}
	bus.Publish(core.Event{Type: core.EventTransferStep, At: base, Call: live, Transfer: &ringing})
	ended := live
	ended.Status = core.CallTransferred
	bus.Publish(core.Event{Type: core.EventCallStatus, At: base, Call: ended})

	var step struct {
		Call     core.Call
		Transfer core.Transfer
	}
	sse.expect("transfer", &step)
	if step.Transfer.ID != "tr-1" || step.Transfer.Status != core.TransferRinging || len(step.Transfer.Steps) != 2 || step.Call.ID != live.ID {
		t.Errorf("transfer event %+v", step)
	}
	var status struct{ Call core.Call }
	sse.expect("call", &status)
	if status.Call.ID != live.ID || status.Call.Status != core.CallTransferred {
		t.Errorf("call event %+v", status)
	}

	// What the caller says and presses is shown live.
	bus.Publish(core.Event{Type: core.EventTranscript, At: base, Call: live, Line: &core.TranscriptLine{ID: "l-1", CallID: live.ID, Role: core.RoleUser, Content: "a human please"}})
	bus.Publish(core.Event{Type: core.EventDigit, At: base, Call: live, Digit: &core.Digit{ID: "d-1", CallID: live.ID, Digit: "5", Source: core.DigitRFC4733}})
	var line struct{ Line core.TranscriptLine }
	sse.expect("line", &line)
	if line.Line.Content != "a human please" || line.Line.Role != core.RoleUser || line.Line.CallID != live.ID {
		t.Errorf("line event %+v", line)
	}
	var digit struct{ Digit core.Digit }
	sse.expect("digit", &digit)
	if digit.Digit.Digit != "5" || digit.Digit.CallID != live.ID {
		t.Errorf("digit event %+v", digit)
	}

	// A server going down ends the stream.
	close(done)
	if ev, ok := sse.next(); ok {
		t.Errorf("after shutdown the stream went on: %+v", ev)
	}
}

func TestEventsBounded(t *testing.T) {
	store := openStore(t)
	bus := core.NewBus()
	closed := &lineWaiter{want: "console stream closed", seen: make(chan struct{})}
	logger := slog.New(slog.NewTextHandler(closed, &slog.HandlerOptions{Level: slog.LevelDebug}))
	events := console.NewEvents(make(chan struct{}), bus, store, console.EventsConfig{MaxStreams: 1}, logger)
	srv := httptest.NewServer(events)
	defer srv.Close()

	ctx, cancel := context.WithCancel(t.Context())
	_, sse := open(t, ctx, srv.URL)
	var snap struct{ Calls []core.Call }
	sse.expect("snapshot", &snap)
	if len(snap.Calls) != 0 {
		t.Errorf("empty store's snapshot: %+v", snap.Calls)
	}
	if events.Open() != 1 {
		t.Errorf("open streams = %d, want 1", events.Open())
	}
	second, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	second.Body.Close()
	if second.StatusCode != http.StatusServiceUnavailable || second.Header.Get("Retry-After") == "" {
		t.Errorf("a stream over the limit = %d %v", second.StatusCode, second.Header)
	}

	// The browser going away frees its place, without waiting for the
	// heartbeat.
	cancel()
	select {
	case <-closed.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of a gone browser is still open")
	}
	if events.Open() != 0 {
		t.Errorf("open streams after the browser left = %d", events.Open())
	}
}

// lineWaiter is a log destination that closes seen when a line holding
// want is written.
type lineWaiter struct {
	want string
	seen chan struct{}
	once sync.Once
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}
