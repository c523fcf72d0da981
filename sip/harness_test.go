package sip

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
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

func (r *recorder) TransferProgress(_ context.Context, callID string, p core.ReferProgress) {
	r.events <- event{kind: "progress", callID: callID, progress: p}
	r.mu.Lock()
	hook := r.onProgress
	r.mu.Unlock()
	if hook != nil {
		hook(callID, p)
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

// expectProgress waits for a progress report with the given status.
func (r *recorder) expectProgress(t *testing.T, callID string, status int, reason string) {
	t.Helper()
	e := r.expect(t, "progress")
	if e.callID != callID || e.progress.Status != status || (reason != "" && e.progress.Reason != reason) {
		t.Fatalf("got %s, want progress(%s, %d %s)", e, callID, status, reason)
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
func startUA(t *testing.T, rec *recorder, mod func(*Config)) *harness {
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
	ua, err := New(cfg, rec, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
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
	return &harness{ua: ua, rec: rec, addr: ua.LocalAddr().String(), logs: logs}
}

// sipPort returns a port free for UDP and TCP on 127.0.0.1, picked at
// random in 20000-31999: below the kernel's ephemeral ports (so no socket
// the kernel hands out can take it between this check and sipp's bind) and
// above the default RTP range.
func sipPort(t testing.TB) int {
	t.Helper()
	lo := netip.MustParseAddr("127.0.0.1")
	for range 500 {
		port := 20000 + rand.IntN(12000)
		ap := netip.AddrPortFrom(lo, uint16(port))
		u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			continue
		}
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
		_ = u.Close()
		if err == nil {
			_ = l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// mediaPort returns the first of four consecutive free UDP ports for
// sipp's -mp: it binds audio and video RTP (and RTCP) from there.
func mediaPort(t testing.TB) int {
	t.Helper()
	lo := netip.MustParseAddr("127.0.0.1")
next:
	for range 500 {
		port := 20000 + 4*rand.IntN(3000)
		var held []*net.UDPConn
		for i := range 4 {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, uint16(port+i))))
			if err != nil {
				for _, h := range held {
					_ = h.Close()
				}
				continue next
			}
			held = append(held, c)
		}
		for _, h := range held {
			_ = h.Close()
		}
		return port
	}
	t.Fatal("no free media ports")
	return 0
}

// sipp is one running sipp process.
type sipp struct {
	name   string
	port   int
	dir    string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// scenario is the path of a testdata/sipp scenario.
func scenario(name string) string { return filepath.Join("..", "testdata", "sipp", name) }

// startSipp runs a testdata/sipp scenario for one call against remote (""
// for a UAS, returned once it listens); see startSippN.
func startSipp(t *testing.T, name, remote string, args ...string) *sipp {
	t.Helper()
	return startSippN(t, name, remote, 1, args...)
}

// startSippN runs sipp with a scenario for calls calls, bound to 127.0.0.1,
// bounded in time, with its traces in a temporary directory (shown when
// the test fails, or always with SIPP_TRACE=1).
func startSippN(t *testing.T, name, remote string, calls int, args ...string) *sipp {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed (Debian: sip-tester)")
	}
	s := &sipp{name: name, port: sipPort(t), dir: t.TempDir(), stderr: &syncBuffer{}, done: make(chan struct{})}
	full := []string{
		"-sf", scenario(name),
		"-i", "127.0.0.1", "-bind_local", "-p", strconv.Itoa(s.port),
		"-mp", strconv.Itoa(mediaPort(t)),
		"-m", strconv.Itoa(calls), "-nostdin",
		"-timeout", "40s", "-timeout_error",
		"-recv_timeout", "20000",
		"-trace_err", "-error_file", filepath.Join(s.dir, "errors.log"),
		"-trace_msg", "-message_file", filepath.Join(s.dir, "messages.log"),
		"-trace_logs", "-log_file", filepath.Join(s.dir, "logs.log"),
	}
	full = append(full, args...)
	if remote != "" {
		full = append([]string{remote}, full...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	s.cmd = exec.CommandContext(ctx, "sipp", full...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp %s: %v", name, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		cancel()
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
		if t.Failed() {
			t.Logf("sipp %s (%v):\n%s", s.name, s.err, s.traces())
		}
	})
	if remote == "" {
		s.waitBound(t)
	}
	return s
}

// addr is the sipp's SIP address.
func (s *sipp) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// wait waits for sipp to exit and fails the test unless it exited 0 (every
// call of the scenario succeeded).
func (s *sipp) wait(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(50 * time.Second):
		t.Fatalf("sipp %s did not exit", s.name)
	}
	if s.err != nil {
		t.Errorf("sipp %s: %v (exit status 0 means every call succeeded)", s.name, s.err)
	} else if os.Getenv("SIPP_TRACE") != "" {
		t.Logf("sipp %s:\n%s", s.name, s.traces())
	}
}

// traces are sipp's stderr, errors, <log> lines and messages.
func (s *sipp) traces() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- stderr:\n%s\n", s.stderr.String())
	for _, f := range []string{"errors.log", "logs.log", "messages.log"} {
		if data, err := os.ReadFile(filepath.Join(s.dir, f)); err == nil {
			fmt.Fprintf(&b, "--- %s:\n%s\n", f, data)
		}
	}
	return b.String()
}

// waitBound polls /proc/net/udp until sipp's UDP port is bound: readiness
// of another process, checked with a deadline.
func (s *sipp) waitBound(t *testing.T) {
	t.Helper()
	want := fmt.Sprintf(":%04X", s.port)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		data, err := os.ReadFile("/proc/net/udp")
		if err != nil {
			t.Skipf("cannot tell when sipp is listening: %v", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if fields := strings.Fields(line); len(fields) > 1 && strings.HasSuffix(fields[1], want) {
				return
			}
		}
		select {
		case <-s.done:
			t.Fatalf("sipp %s exited early: %v\n%s", s.name, s.err, s.traces())
		case <-deadline:
			t.Fatalf("sipp %s did not bind udp port %d", s.name, s.port)
		case <-tick.C:
		}
	}
}
