package core_test

import (
	"context"
	"math"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// answeredCall offers and answers another call on the fixture's number.
func answeredCall(t *testing.T, f *fixture, sipCallID string) string {
	t.Helper()
	dec := f.calls.OfferCall(t.Context(), core.InboundInvite{SIPCallID: sipCallID, Called: "31850835037", Caller: "+31611122244", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	if dec.CallID == "" {
		t.Fatalf("call %s refused: %+v", sipCallID, dec)
	}
	f.calls.CallAnswered(t.Context(), dec.CallID)
	return dec.CallID
}

// heldTransfers makes every REFER accepted and its transfer complete only
// once release is closed; referred receives each referred call's id.
func heldTransfers(f *fixture) (referred chan string, release chan struct{}) {
	referred, release = make(chan string, 16), make(chan struct{})
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		referred <- callID
		go func() {
			<-release
			f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		}()
		return 202, nil
	}
	return referred, release
}

// startHeldTransfer starts the call's transfer and waits for its REFER.
func startHeldTransfer(t *testing.T, f *fixture, referred chan string, callID string, done chan error) {
	t.Helper()
	go func() {
		_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: callID, Destination: "sip:desk@pbx.example.com"}, nil)
		done <- err
	}()
	select {
	case <-referred:
	case <-time.After(10 * time.Second):
		t.Fatalf("the transfer of %s sent no REFER", callID)
	}
}

// TestNewCallsRefusedAtTransferHighWater: with 4 transfer slots, new
// calls (inbound, and create_call's outbound ones) are admitted while
// fewer than 3 transfers are in flight and refused from the third on, the last slot kept for the calls already
// answered (which the refusal does not touch: their transfers still
// start); as soon as the transfers end, new calls are admitted again.
func TestNewCallsRefusedAtTransferHighWater(t *testing.T) {
	f := newFixture(t, core.CallsConfig{MaxTransfersInFlight: 4, TransferTimeout: 30 * time.Second})
	calls := []string{f.callID, answeredCall(t, f, "c2"), answeredCall(t, f, "c3"), answeredCall(t, f, "c4")}
	referred, release := heldTransfers(f)
	done := make(chan error, len(calls))
	for i, id := range calls[:3] {
		if !f.calls.AdmitCall() {
			t.Fatalf("new calls refused with %d of 4 transfers in flight", i)
		}
		startHeldTransfer(t, f, referred, id, done)
	}
	if f.calls.AdmitCall() {
		t.Fatal("new calls admitted with 3 of 4 transfers in flight")
	}
	// An outbound call is a new call too: create_call is refused before
	// anything is stored or sent.
	_, err := f.calls.Dial(t.Context(), core.DialRequest{NumberID: numberID(t, f), Destination: "+31612345678"})
	if !core.HasCode(err, core.CodeOverloaded) || core.AsError(err).RetryAfter < 1 {
		t.Fatalf("create_call while new calls are refused: %v", err)
	}
	// A call answered before the refusal still gets its transfer.
	startHeldTransfer(t, f, referred, calls[3], done)
	if f.calls.AdmitCall() {
		t.Fatal("new calls admitted with every transfer slot taken")
	}
	close(release)
	for range calls {
		if err := <-done; err != nil {
			t.Fatalf("a transfer in flight: %v", err)
		}
	}
	if !f.calls.AdmitCall() {
		t.Fatalf("new calls still refused with %d transfers in flight and none refused", f.calls.TransfersInFlight())
	}
}

// TestNewCallsRefusedWhileTransfersAreRefused: once a transfer was
// refused for want of a slot, new calls stay refused for the refusal's
// retry_after (1 s) even after a slot is free, the time in which the
// refused caller's agent retries; then they are admitted again.
func TestNewCallsRefusedWhileTransfersAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, core.CallsConfig{MaxTransfersInFlight: 1, TransferTimeout: 30 * time.Second})
	second := answeredCall(t, f, "c2")
	referred, release := heldTransfers(f)
	done := make(chan error, 1)
	startHeldTransfer(t, f, referred, f.callID, done)
	_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: second, Destination: "sip:desk@pbx.example.com"}, nil)
	if !core.HasCode(err, core.CodeOverloaded) {
		t.Fatalf("transfer beyond capacity: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the transfer in flight: %v", err)
	}
	refusedUntil := time.Now().Add(900 * time.Millisecond)
	if f.calls.TransfersInFlight() != 0 {
		t.Fatalf("%d transfers in flight after the only one ended", f.calls.TransfersInFlight())
	}
	if f.calls.AdmitCall() && time.Now().Before(refusedUntil) {
		t.Fatal("new calls admitted right after a transfer was refused for want of a slot")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !f.calls.AdmitCall() {
		if time.Now().After(deadline) {
			t.Fatal("new calls still refused 5 s after the last refused transfer")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNoTransferLimitAdmitsEveryCall: with no transfer limit the core
// never refuses a call on its own.
func TestNoTransferLimitAdmitsEveryCall(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	referred, release := heldTransfers(f)
	defer close(release)
	done := make(chan error, 1)
	startHeldTransfer(t, f, referred, f.callID, done)
	if !f.calls.AdmitCall() {
		t.Fatal("a call refused with no transfer limit")
	}
}

// TestNewCallsRefusedUnderHeapPressure: while the heap live after the
// last collection fills three quarters of the Go memory limit, new calls
// are refused, whatever the transfer slots say; once it drains they are
// admitted again. With no memory limit, no heap refuses a call.
func TestNewCallsRefusedUnderHeapPressure(t *testing.T) {
	f := newFixture(t, core.CallsConfig{MaxTransfersInFlight: 256})
	heap := &reading{used: 75 << 20, limit: 100 << 20}
	core.SetHeapReader(f.calls, heap.read)
	if f.calls.AdmitCall() {
		t.Fatal("a new call admitted with the live heap at 3/4 of the memory limit")
	}
	heap.set(70<<20, 100<<20)
	waitAdmitted(t, f.calls, "the live heap fell under 3/4 of the limit")
	heap.set(1<<40, math.MaxInt64)
	waitAdmitted(t, f.calls, "the memory limit was lifted")
}

// TestNewCallsRefusedWhileStepWritesAreSlow: the transfer steps' writes
// are measured (a transfer leaves a non-zero average), and while they take
// more than 250 ms on average with a quarter of the transfer slots taken,
// new calls are refused; a second with no step written lets calls in
// again, since nothing waits on the store, and with no transfer in flight
// slow writes refuse nothing (the wait is not the work taken on).
func TestNewCallsRefusedWhileStepWritesAreSlow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, core.CallsConfig{MaxTransfersInFlight: 4, TransferTimeout: 30 * time.Second})
	second := answeredCall(t, f, "c2")
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "sip:desk@pbx.example.com"}, nil); err != nil {
		t.Fatal(err)
	}
	if core.StepWriteAverage(f.calls) <= 0 {
		t.Fatal("a transfer's step writes were not measured")
	}
	slowWrites := func() {
		for range 30 {
			core.StepWriteTook(f.calls, time.Now().Add(-400*time.Millisecond))
		}
	}
	slowWrites()
	if !f.calls.AdmitCall() {
		t.Fatalf("a new call refused for slow step writes (%s) with no transfer in flight", core.StepWriteAverage(f.calls))
	}

	referred, release := heldTransfers(f)
	done := make(chan error, 1)
	startHeldTransfer(t, f, referred, second, done)
	slowWrites()
	if f.calls.AdmitCall() {
		t.Fatalf("a new call admitted with 1 of 4 transfers in flight and step writes of %s on average", core.StepWriteAverage(f.calls))
	}
	deadline := time.Now().Add(5 * time.Second)
	for !f.calls.AdmitCall() {
		if time.Now().After(deadline) {
			t.Fatal("new calls still refused 5 s after the last step write")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the transfer in flight: %v", err)
	}
}

// TestNewCallsRefusedNearTheOpenFileLimit: while the open files fill
// three quarters of the process's limit, new calls are refused even with
// every cap off (VOICEDOCK_MAX_CALLS=0 and no transfer limit): past the
// limit the next call's RTP socket, the next connection and the store's
// files could not be opened. Below it they are admitted again, and a
// limit that cannot be read refuses nothing.
func TestNewCallsRefusedNearTheOpenFileLimit(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	files := &reading{used: 750, limit: 1000}
	core.SetFileReader(f.calls, files.read)
	if f.calls.AdmitCall() {
		t.Fatal("a new call admitted with 3/4 of the open-file limit taken")
	}
	files.set(700, 1000)
	waitAdmitted(t, f.calls, "the open files fell under 3/4 of the limit")
	files.set(5000, 0)
	waitAdmitted(t, f.calls, "the limit became unknown")
}

// TestOpenFilesCounted: admission's count is the process's own: opening
// files raises it by as many, and the limit is the one the process has.
func TestOpenFilesCounted(t *testing.T) {
	before, limit := core.OpenFiles()
	if limit == 0 {
		if runtime.GOOS == "linux" {
			t.Fatal("the open files were not counted")
		}
		t.Skip("the open files are not counted on " + runtime.GOOS)
	}
	var held []*os.File
	for range 200 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, f)
	}
	after, _ := core.OpenFiles()
	for _, f := range held {
		f.Close()
	}
	// Other goroutines of the test binary may open or close a file or
	// two meanwhile; two hundred of ours must show.
	if after < before+190 || after > before+210 {
		t.Fatalf("open files %d before and %d after opening 200", before, after)
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if limit != rl.Cur {
		t.Fatalf("limit %d, want the process's %d", limit, rl.Cur)
	}
}

// reading is a resource's use and limit as a test sets them, read by
// admission from its own goroutines.
type reading struct {
	mu          sync.Mutex
	used, limit uint64
}

func (r *reading) read() (used, limit uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used, r.limit
}

func (r *reading) set(used, limit uint64) {
	r.mu.Lock()
	r.used, r.limit = used, limit
	r.mu.Unlock()
}

// waitAdmitted waits, up to 5 s, for new calls to be admitted again after
// what why says; admission reads its gauges at most every few hundred ms.
func waitAdmitted(t *testing.T, calls *core.Calls, why string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !calls.AdmitCall() {
		if time.Now().After(deadline) {
			t.Fatalf("new calls still refused 5 s after %s", why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
