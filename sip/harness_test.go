package sip

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// eventWait bounds every wait for a report from the UA.
const eventWait = 15 * time.Second

// event is one report the UA made to its handler.
type event struct {
	kind     string // "answered", "ended", "progress"
	callID   string
	reason   string
	progress core.ReferProgress
}

func (e event) String() string {
	switch e.kind {
	case "ended":
		return fmt.Sprintf("ended(%s, %s)", e.callID, e.reason)
	case "progress":
		return fmt.Sprintf("progress(%s, %d %s)", e.callID, e.progress.Status, e.progress.Reason)
	}
	return fmt.Sprintf("%s(%s)", e.kind, e.callID)
}

// recorder is a core.SignalHandler that records the UA's reports on a
// channel; decide answers OfferCall (accept by default).
type recorder struct {
	events chan event
	offers chan core.InboundInvite
	decide func(ctx context.Context, inv core.InboundInvite) core.OfferDecision
	seq    atomic.Int64

	mu    sync.Mutex
	ended map[string]int
	// onProgress, when set, runs on the UA's goroutine after a progress
	// report is recorded (the core would hang up on a 2xx there).
	onProgress func(callID string, p core.ReferProgress)
	// reports are the statuses of each TransferProgress, by call.
	reports map[string][][]int
}

// hangUpOnSuccess makes the recorder hang up (asynchronously, as the core
// does) when a transfer reports a final 2xx.
func (r *recorder) hangUpOnSuccess(ua *UA) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onProgress = func(callID string, p core.ReferProgress) {
		if p.Status >= 200 && p.Status < 300 {
			go func() { _ = ua.Hangup(context.Background(), callID) }()
		}
	}
}

func newRecorder() *recorder {
	return &recorder{
		events: make(chan event, 256),
		offers: make(chan core.InboundInvite, 64),
		ended:  map[string]int{},
	}
}

func (r *recorder) OfferCall(ctx context.Context, inv core.InboundInvite) core.OfferDecision {
	select {
	case r.offers <- inv:
	default:
	}
	if r.decide != nil {
		return r.decide(ctx, inv)
	}
	return core.OfferDecision{CallID: fmt.Sprintf("call-%d", r.seq.Add(1)), KeepState: true}
}

func (r *recorder) CallAnswered(_ context.Context, callID string) {
	r.events <- event{kind: "answered", callID: callID}
}

func (r *recorder) CallEnded(_ context.Context, callID, reason string) {
	r.mu.Lock()
	r.ended[callID]++
	r.mu.Unlock()
	r.events <- event{kind: "ended", callID: callID, reason: reason}
}

func (r *recorder) TransferProgress(_ context.Context, callID string, ps ...core.ReferProgress) {
	var statuses []int
	for _, p := range ps {
		statuses = append(statuses, p.Status)
	}
	r.mu.Lock()
	if r.reports == nil {
		r.reports = map[string][][]int{}
	}
	r.reports[callID] = append(r.reports[callID], statuses)
	r.mu.Unlock()
	for _, p := range ps {
		r.events <- event{kind: "progress", callID: callID, progress: p}
		r.mu.Lock()
		hook := r.onProgress
		r.mu.Unlock()
		if hook != nil {
			hook(callID, p)
		}
	}
}

// next returns the next report, failing the test when none comes in time.
func (r *recorder) next(t *testing.T) event {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(eventWait):
		t.Fatalf("no report from the UA within %s", eventWait)
		return event{}
	}
}

// expect returns the next report and fails unless it is of kind.
func (r *recorder) expect(t *testing.T, kind string) event {
	t.Helper()
	e := r.next(t)
	if e.kind != kind {
		t.Fatalf("got report %s, want %s", e, kind)
	}
	return e
}

// expectEnded waits for the call's CallEnded and checks its reason.
func (r *recorder) expectEnded(t *testing.T, callID, reason string) {
	t.Helper()
	e := r.expect(t, "ended")
	if e.callID != callID || e.reason != reason {
		t.Fatalf("got %s, want ended(%s, %s)", e, callID, reason)
	}
}

// expectEndedPastLateFinal is expectEnded for a call whose far side sends
// its final NOTIFY once more on getting our BYE's answer: that one is
// reported (for a call the core then ignores) when it arrives after the
// call left the UA's dialogs, which may be just before the end is
// reported. Such 2xx reports are let pass; the caller checks how many
// there were.
func (r *recorder) expectEndedPastLateFinal(t *testing.T, callID, reason string) {
	t.Helper()
	for {
		e := r.next(t)
		if e.kind == "progress" && e.callID == callID && e.progress.Status >= 200 && e.progress.Status < 300 {
			continue
		}
		if e.kind != "ended" || e.callID != callID || e.reason != reason {
			t.Fatalf("got %s, want ended(%s, %s)", e, callID, reason)
		}
		return
	}
}

// expectProgress waits for a progress report with the given status.
func (r *recorder) expectProgress(t *testing.T, callID string, status int, reason string) {
	t.Helper()
	e := r.expect(t, "progress")
	if e.callID != callID || e.progress.Status != status || (reason != "" && e.progress.Reason != reason) {
		t.Fatalf("got %s, want progress(%s, %d %s)", e, callID, status, reason)
	}
}

// expectFinalProgress waits for the final progress report of a REFER,
// with the given status; provisional reports before it may come or not
// (a stale one overtaken by the final NOTIFY is not reported), in
// increasing order.
func (r *recorder) expectFinalProgress(t *testing.T, callID string, status int, reason string) {
	t.Helper()
	last := 0
	for {
		e := r.expect(t, "progress")
		if e.callID != callID || e.progress.Status < last {
			t.Fatalf("got %s after status %d, want progress(%s) up to %d %s", e, last, callID, status, reason)
		}
		if e.progress.Status < 200 {
			last = e.progress.Status
			continue
		}
		if e.progress.Status != status || (reason != "" && e.progress.Reason != reason) {
			t.Fatalf("got %s, want final progress(%s, %d %s)", e, callID, status, reason)
		}
		return
	}
}

// offer returns the next INVITE offered to the handler.
func (r *recorder) offer(t *testing.T) core.InboundInvite {
	t.Helper()
	select {
	case inv := <-r.offers:
		return inv
	case <-time.After(eventWait):
		t.Fatalf("no INVITE offered within %s", eventWait)
		return core.InboundInvite{}
	}
}

// expectQuiet fails if a report arrives within d. Used only after the
// scenario has finished, to check nothing more is reported.
func (r *recorder) expectQuiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-r.events:
		t.Fatalf("unexpected report %s", e)
	case <-time.After(d):
	}
}

func (r *recorder) endedCount(callID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended[callID]
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is a running UA.
type harness struct {
	ua   *UA
	rec  *recorder
	addr string // host:port of the UA
	logs *syncBuffer
}

// startUA starts a UA on 127.0.0.1 and a free port, stopped when the test
// ends; its log is printed when the test fails.
func startUA(t testing.TB, rec *recorder, mod func(*Config)) *harness {
	t.Helper()
	ua, logs := serveUA(t, rec, mod)
	return &harness{ua: ua, rec: rec, addr: ua.LocalAddr().String(), logs: logs}
}

// serveUA starts a UA reporting to handler; see startUA.
func serveUA(t testing.TB, handler core.SignalHandler, mod func(*Config)) (*UA, *syncBuffer) {
	t.Helper()
	return serveUAHooked(t, handler, mod, nil)
}

// serveUAHooked is serveUA with hook called on the UA built, before it
// serves: for what must be set before sipgo reads its first message.
func serveUAHooked(t testing.TB, handler core.SignalHandler, mod func(*Config), hook func(*UA)) (*UA, *syncBuffer) {
	t.Helper()
	cfg := Config{
		Addr:         "127.0.0.1:0",
		UserAgent:    "voicedock/test",
		ReferTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ua, err := New(cfg, handler, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if hook != nil {
		hook(ua)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() { served <- ua.Serve(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-served:
		cancel()
		t.Fatalf("Serve: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("Serve did not become ready")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Serve did not return after its context ended")
		}
		if t.Failed() {
			t.Logf("UA log:\n%s", logs.String())
		}
	})
	return ua, logs
}

// startSipp runs a testdata/sipp scenario for one call against remote (""
// for a UAS, returned once it listens).
func startSipp(t *testing.T, name, remote string, args ...string) *sipptest.Process {
	t.Helper()
	return startSippN(t, name, remote, 1, args...)
}

// startSippN runs a testdata/sipp scenario for calls calls.
func startSippN(t *testing.T, name, remote string, calls int, args ...string) *sipptest.Process {
	t.Helper()
	return sipptest.Start(t, name, remote, sipptest.Options{Calls: calls}, args...)
}

// waitGoroutines polls, with a deadline, until the process runs at most
// atMost goroutines: the handlers of the requests just answered return on
// their own time. It fails the test with every stack when they do not.
// Tests that count goroutines are not parallel.
func waitGoroutines(t *testing.T, atMost int, what string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for n := runtime.NumGoroutine(); n > atMost; n = runtime.NumGoroutine() {
		select {
		case <-tick.C:
		case <-deadline:
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines %s, want at most %d\n%s", n, what, atMost, buf[:runtime.Stack(buf, true)])
		}
	}
}

// registryEmpty fails the test unless the UA holds no call, no dialog and
// no RTP port.
func registryEmpty(t *testing.T, ua *UA) {
	t.Helper()
	r := ua.calls
	r.mu.RLock()
	byID, byKey, ended, endedID, pending := len(r.byID), len(r.byKey), len(r.ended), len(r.endedID), len(r.pending)
	r.mu.RUnlock()
	if byID+byKey+ended+endedID+pending != 0 {
		t.Errorf("registry: %d calls, %d dialogs, %d ended dialogs, %d ended ids, %d pending hang-ups; want none",
			byID, byKey, ended, endedID, pending)
	}
	if n := ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports reserved", n)
	}
}
