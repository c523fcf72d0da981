package core_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// scriptedSIP plays the SIP user agent's side for the state machine's
// tests: each REFER is answered by a script that reports NOTIFYs in the
// order a given real user agent sends them. The end-to-end tests run the
// same flows against sipp.
type scriptedSIP struct {
	calls *core.Calls
	refer func(ctx context.Context, callID, referTo string) (int, error)
	// dial and dialog, when set, play the server's own calls (warm and
	// bridge transfers); referTarget records what ReferTo was given.
	dial        func(ctx context.Context, d core.OutboundDial) error
	dialog      func(callID string) (core.SIPDialog, error)
	referTarget []core.ReferTarget

	mu       sync.Mutex
	referTos []string
	hungUp   []string
}

func (s *scriptedSIP) Refer(ctx context.Context, callID, referTo string) (int, error) {
	s.mu.Lock()
	s.referTos = append(s.referTos, referTo)
	s.mu.Unlock()
	return s.refer(ctx, callID, referTo)
}

func (s *scriptedSIP) Hangup(ctx context.Context, callID string) error {
	s.mu.Lock()
	s.hungUp = append(s.hungUp, callID)
	s.mu.Unlock()
	s.calls.CallEnded(ctx, callID, core.EndAssistantHangup)
	return nil
}

func (s *scriptedSIP) Dial(ctx context.Context, d core.OutboundDial) error {
	if s.dial != nil {
		return s.dial(ctx, d)
	}
	return nil
}

func (s *scriptedSIP) ReferTo(ctx context.Context, callID string, target core.ReferTarget) (int, error) {
	s.mu.Lock()
	s.referTarget = append(s.referTarget, target)
	s.mu.Unlock()
	return s.Refer(ctx, callID, target.URI)
}

func (s *scriptedSIP) Dialog(callID string) (core.SIPDialog, error) {
	if s.dialog != nil {
		return s.dialog(callID)
	}
	return core.SIPDialog{}, errors.New("no dialogs in this fake")
}

func (s *scriptedSIP) hangups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.hungUp...)
}

func (s *scriptedSIP) Options(ctx context.Context, t core.Trunk) (core.TrunkHealth, error) {
	return core.TrunkHealth{}, core.Errorf(core.CodeUnavailable, "no SIP in this test")
}

type fixture struct {
	calls  *core.Calls
	sip    *scriptedSIP
	svc    *core.Configuration
	callID string
	store  *sqlite.Store
}

func newFixture(t *testing.T, cfg core.CallsConfig) *fixture {
	t.Helper()
	return newFixtureWithBus(t, cfg, core.NewBus())
}

// newFixtureWithBus is newFixture on the given bus.
func newFixtureWithBus(t *testing.T, cfg core.CallsConfig, bus *core.Bus) *fixture {
	t.Helper()
	return newFixtureWrapped(t, cfg, bus, nil)
}

// newFixtureWrapped is newFixtureWithBus with the calls kept in what wrap
// makes of the SQLite store (the store itself with nil).
func newFixtureWrapped(t *testing.T, cfg core.CallsConfig, bus *core.Bus, wrap func(*sqlite.Store) core.CallStore) *fixture {
	t.Helper()
	ctx := t.Context()
	key := make([]byte, 32)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vd.db"), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := core.NewConfiguration(st, slog.New(slog.DiscardHandler))
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
		Type: "transfer_call", Destinations: []core.Destination{
			{Type: "number", Number: "+31612345678", Description: "sales", Message: "Connecting you to sales."},
			{Type: "sip", SIPURI: "sip:desk@pbx.example.com", Description: "desk"},
		},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	tr, _, err := svc.ConfigureTrunk(ctx, "", core.TrunkConfig{Name: "pbx", Host: "127.0.0.1", Port: 5070, Transport: "tcp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID, TransferTrunkID: &tr.ID}); err != nil {
		t.Fatal(err)
	}
	if cfg.TransferTimeout == 0 {
		cfg.TransferTimeout = 5 * time.Second
	}
	var callStore core.CallStore = st
	if wrap != nil {
		callStore = wrap(st)
	}
	calls := core.NewCalls(ctx, cfg, st, callStore, bus, slog.New(slog.NewTextHandler(newTestWriter(t), nil)))
	sip := &scriptedSIP{calls: calls}
	calls.SetSignaling(sip)
	// Registered after the store's Close, so run before it: the manager's
	// goroutines are done before the store closes, as in the server.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		calls.Shutdown(ctx)
	})
	dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: "c1", Called: "31850835037", Caller: "+31611122233", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	if dec.CallID == "" {
		t.Fatalf("call refused: %+v", dec)
	}
	calls.CallAnswered(ctx, dec.CallID)
	return &fixture{calls: calls, sip: sip, svc: svc, callID: dec.CallID, store: st}
}

func statuses(steps []core.Transfer) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Status)
	}
	return out
}

func TestTransferCompletesThroughTheTrunk(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	// A NOTIFY that overtakes the 202 implies it (TestNotifiesBeforeThe202StillCount);
	// this test wants every step, so the NOTIFYs wait for "accepted".
	accepted := make(chan struct{})
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go func() {
			<-accepted
			f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 100})
			f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 180})
			f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		}()
		return 202, nil
	}
	var steps []core.Transfer
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", RequestedBy: "ops"}, func(s core.Transfer) {
		steps = append(steps, s)
		if s.Status == core.TransferAccepted {
			close(accepted)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status != core.TransferCompleted || tr.Message != "Connecting you to sales." || tr.RequestedBy != "ops" {
		t.Errorf("transfer: %+v", tr)
	}
	got := statuses(steps)
	want := []string{"requested", "accepted", "trying", "ringing", "completed"}
	if len(got) != len(want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("steps %v, want %v", got, want)
		}
	}
	if f.sip.referTos[0] != "sip:+31612345678@127.0.0.1:5070;transport=tcp" {
		t.Errorf("Refer-To %s", f.sip.referTos[0])
	}
	c, err := f.calls.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != core.CallTransferred || c.EndReason != core.EndTransferred || len(c.Transfers) != 1 || len(c.Transfers[0].Steps) != 5 {
		t.Errorf("call after transfer: %+v", c)
	}
}

func TestNotifiesBeforeThe202StillCount(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 100})
		f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200, Reason: "Ok"})
		return 202, nil
	}
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "sip:desk@pbx.example.com"}, nil)
	if err != nil || tr.Status != core.TransferCompleted {
		t.Fatalf("%+v %v", tr, err)
	}
}

func TestBusyThenSecondTransferSucceeds(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	attempt := 0
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		attempt++
		final := 486
		if attempt == 2 {
			final = 200
		}
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: final})
		return 202, nil
	}
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	if !core.HasCode(err, core.CodeTransferFailed) || tr.SIPStatus != 486 || core.AsError(err).SIPStatus != 486 {
		t.Fatalf("busy: %+v %v", tr, err)
	}
	c, _ := f.calls.GetCall(t.Context(), f.callID)
	if c.Status != core.CallInProgress {
		t.Fatalf("caller not kept after a busy transfer: %s", c.Status)
	}
	tr, err = f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	if err != nil || tr.Status != core.TransferCompleted {
		t.Fatalf("second transfer: %+v %v", tr, err)
	}
}

func TestReferRejected(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) { return 603, nil }
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	if !core.HasCode(err, core.CodeTransferFailed) || tr.SIPStatus != 603 {
		t.Fatalf("%+v %v", tr, err)
	}
}

// TestNoFinalNotifyTimesOut runs on synctest's clock: the production
// timeout passes in no time, and exactly when it should.
func TestNoFinalNotifyTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 30 * time.Second
		f := newFixture(t, core.CallsConfig{TransferTimeout: timeout})
		f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) { return 202, nil }
		start := time.Now()
		tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
		if !core.HasCode(err, core.CodeTransferFailed) || tr.Status != core.TransferFailed {
			t.Fatalf("%+v %v", tr, err)
		}
		if waited := time.Since(start); waited != timeout {
			t.Errorf("failed after %s, want %s", waited, timeout)
		}
		if !strings.Contains(tr.Reason, "no final NOTIFY within 30s") {
			t.Errorf("reason %q", tr.Reason)
		}
		c, _ := f.calls.GetCall(t.Context(), f.callID)
		if c.Status != core.CallInProgress {
			t.Errorf("call after timeout: %s", c.Status)
		}
	})
}

func TestCallerHangsUpMidTransfer(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go func() {
			f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 100})
			f.calls.CallEnded(ctx, callID, core.EndCallerHangup)
		}()
		return 202, nil
	}
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	if tr.Status != core.TransferCanceled || !core.HasCode(err, core.CodeCallNotActive) {
		t.Fatalf("%+v %v", tr, err)
	}
	c, _ := f.calls.GetCall(t.Context(), f.callID)
	if c.Status != core.CallEnded || c.EndReason != core.EndCallerHangup {
		t.Errorf("call: %+v", c)
	}
}

func TestTransferRules(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	block := make(chan struct{})
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		<-block
		return 603, nil
	}
	tests := []struct {
		req  core.TransferRequest
		code core.Code
	}{
		{core.TransferRequest{CallID: f.callID, Destination: "+31201234567"}, core.CodeDestinationNotAllowed}, // not configured
		{core.TransferRequest{CallID: f.callID, Destination: "+449098790000"}, core.CodeDestinationNotAllowed},
		{core.TransferRequest{CallID: f.callID, Destination: "sip:a@b>;x\r\nContact: <sip:evil@x>"}, core.CodeInvalidRequest},
		{core.TransferRequest{CallID: "nope", Destination: "+31612345678"}, core.CodeNotFound},
		{core.TransferRequest{Destination: "+31612345678"}, core.CodeMissingField},
	}
	for _, tt := range tests {
		_, err := f.calls.Transfer(t.Context(), tt.req, nil)
		if !core.HasCode(err, tt.code) {
			t.Errorf("%+v: %v, want %s", tt.req, err, tt.code)
		}
	}
	if len(f.sip.referTos) != 0 {
		t.Fatalf("refused transfers reached SIP: %v", f.sip.referTos)
	}
	// A second transfer while one runs is a conflict.
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, func(s core.Transfer) {
			if s.Status == core.TransferRequested {
				close(started)
			}
		})
		done <- err
	}()
	<-started
	if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil); !core.HasCode(err, core.CodeConflict) {
		t.Errorf("second transfer: %v", err)
	}
	close(block)
	if err := <-done; !core.HasCode(err, core.CodeTransferFailed) {
		t.Errorf("first transfer: %v", err)
	}
}

func TestAdhocTransfersWhenAllowed(t *testing.T) {
	f := newFixture(t, core.CallsConfig{AllowAdhocTransfers: true})
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31201234567"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestOfferCallDecisions(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	ctx := t.Context()
	src := netip.MustParseAddrPort("127.0.0.1:5099")
	tests := []struct {
		inv    core.InboundInvite
		status int
	}{
		{core.InboundInvite{Called: "+31850835037", Source: netip.MustParseAddrPort("127.0.0.2:5060")}, 403}, // not the trunk's host
		{core.InboundInvite{Called: "+31201234567", Source: netip.MustParseAddrPort("127.0.0.2:5060")}, 403}, // unknown number, unknown source: say nothing
		{core.InboundInvite{Called: "+31201234567", Source: src}, 404},                                       // unknown number from a trunk's host
		{core.InboundInvite{Called: "+31850835037", Source: src}, 0},
	}
	for _, tt := range tests {
		d := f.calls.OfferCall(ctx, tt.inv)
		if d.RejectStatus != tt.status || (tt.status == 0) != (d.CallID != "") {
			t.Errorf("%+v: %+v, want %d", tt.inv, d, tt.status)
		}
	}
	open := newFixture(t, core.CallsConfig{AllowedSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if d := open.calls.OfferCall(ctx, core.InboundInvite{Called: "+31201234567", Source: src}); d.RejectStatus != 404 {
		t.Errorf("unknown number from an allowed network: %+v", d)
	}
}

// testWriter sends the manager's log to the test's log until the test
// ends: a transfer's BYE goes out in the background and may log after the
// test's last check.
type testWriter struct {
	t    *testing.T
	mu   *sync.Mutex
	done *bool
}

func newTestWriter(t *testing.T) testWriter {
	w := testWriter{t: t, mu: new(sync.Mutex), done: new(bool)}
	t.Cleanup(func() {
		w.mu.Lock()
		*w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}
