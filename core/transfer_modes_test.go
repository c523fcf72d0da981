package core_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/voicedock/voicedock/core"
)

// recMedia records what the core asks of the calls' audio, in order.
type recMedia struct {
	mu     sync.Mutex
	events []string
	// legOf tells the caller's call from the server's own (for the log).
	legOf func(callID string) string
}

func (r *recMedia) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recMedia) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *recMedia) Say(_ context.Context, callID string, u core.Utterance) error {
	r.add("say " + r.legOf(callID) + ": " + u.Text)
	return nil
}

func (r *recMedia) Hold(_ context.Context, callID, _ string) (func(), error) {
	r.add("hold " + r.legOf(callID))
	var once sync.Once
	return func() { once.Do(func() { r.add("unhold " + r.legOf(callID)) }) }, nil
}

func (r *recMedia) Bridge(_ context.Context, a, b string) (core.BridgeStats, error) {
	r.add("bridge " + r.legOf(a) + " " + r.legOf(b))
	return core.BridgeStats{}, nil
}

// modesFixture is a call with media and a SIP side whose own calls (legs)
// are answered, or refused with dialStatus.
func modesFixture(t *testing.T, dialStatus int) (*fixture, *recMedia, *[]core.OutboundDial) {
	t.Helper()
	f := newFixture(t, core.CallsConfig{})
	var mu sync.Mutex
	var dials []core.OutboundDial
	media := &recMedia{legOf: func(id string) string {
		if id == f.callID {
			return "caller"
		}
		return "leg"
	}}
	f.calls.SetMedia(media)
	f.sip.dial = func(ctx context.Context, d core.OutboundDial) error {
		mu.Lock()
		dials = append(dials, d)
		mu.Unlock()
		if dialStatus != 0 {
			f.calls.CallEnded(ctx, d.CallID, core.EndRejected)
			return &core.Error{Code: core.CodeTransferFailed, Message: fmt.Sprintf("the far side answered %d", dialStatus), SIPStatus: dialStatus}
		}
		f.calls.CallAnswered(ctx, d.CallID)
		return nil
	}
	f.sip.dialog = func(callID string) (core.SIPDialog, error) {
		return core.SIPDialog{CallID: "consult-" + callID, LocalTag: "ours", RemoteTag: "theirs", RemoteTarget: "sip:human@10.0.0.9:5060", SupportsReplaces: true}, nil
	}
	return f, media, &dials
}

func TestWarmTransferMediaAndReplaces(t *testing.T) {
	synctest.Test(t, testWarmTransferMediaAndReplaces)
}

func testWarmTransferMediaAndReplaces(t *testing.T) {
	f, media, dials := modesFixture(t, 0)
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
		CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm, Summary: "Refund\r\nplease",
		Routing: core.TransferRouting{CallerID: core.CallerIDCaller}, SIPHeaders: map[string]string{"X-Ticket": "7"},
	}, nil)
	if err != nil || tr.Status != core.TransferCompleted {
		t.Fatalf("warm transfer = %+v, %v", tr, err)
	}
	want := []string{"say caller: Connecting you to sales.", "hold caller", "say leg: Refund\r\nplease", "unhold caller"}
	waitFor(t, func() bool { return slices.Equal(media.log(), want) }, func() string { return fmt.Sprint(media.log()) })
	d := (*dials)[0]
	if d.From != "+31611122233" || d.To != "sip:+31612345678@127.0.0.1:5070;transport=tcp" || d.Trunk.Port != 5070 {
		t.Errorf("dial %+v", d)
	}
	if fmt.Sprint(d.Headers) != "[{X-Ticket 7} {X-Transfer-Summary Refund please}]" {
		t.Errorf("dial headers %v", d.Headers)
	}
	rt := f.sip.referTarget[0]
	if rt.URI != "sip:human@10.0.0.9:5060" || rt.Replaces == nil || rt.Replaces.CallID != "consult-"+d.CallID {
		t.Errorf("REFER target %+v", rt)
	}
	a := tr.Attempts[0]
	if a.LegCallID != d.CallID || a.CallerID != "+31611122233" || a.Bridged || a.ReferTo != rt.URI {
		t.Errorf("attempt %+v", a)
	}
	// The caller is left at once; the human's leg is left to the Replaces.
	waitFor(t, func() bool { return slices.Contains(f.sip.hangups(), f.callID) }, func() string { return fmt.Sprint(f.sip.hangups()) })
	if slices.Contains(f.sip.hangups(), d.CallID) {
		t.Error("the human's leg was hung up before the Replaces could end it")
	}
	// The human's phone ends the replaced call (RFC 3891), as a real one does.
	f.calls.CallEnded(t.Context(), d.CallID, core.EndCallerHangup)
	stored, err := f.store.GetCall(t.Context(), f.callID)
	if err != nil || stored.Transfers[0].Attempts[0].LegStatus != core.LegEnded {
		t.Errorf("stored leg: %+v, %v", stored.Transfers, err)
	}
}

func TestWarmTransferBusySaysFallback(t *testing.T) {
	f, media, _ := modesFixture(t, 486)
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
		CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm, FallbackMessage: "Nobody is free.",
	}, nil)
	if !core.HasCode(err, core.CodeTransferFailed) || tr.SIPStatus != 486 || !strings.Contains(tr.Reason, "busy") {
		t.Fatalf("busy warm transfer = %+v, %v", tr, err)
	}
	// Hold stops before the caller hears why, and nothing else is said.
	want := []string{"say caller: Connecting you to sales.", "hold caller", "unhold caller", "say caller: Nobody is free."}
	if got := media.log(); !slices.Equal(got, want) {
		t.Errorf("media %q, want %q", got, want)
	}
	c, _ := f.calls.GetCall(t.Context(), f.callID)
	if c.Status != core.CallInProgress || c.Transfers[0].Attempts[0].LegStatus != core.LegFailed {
		t.Errorf("call %s, attempt %+v", c.Status, c.Transfers[0].Attempts[0])
	}
}

func TestBridgeTransferEndsBothLegs(t *testing.T) { synctest.Test(t, testBridgeTransferEndsBothLegs) }

func testBridgeTransferEndsBothLegs(t *testing.T) {
	f, media, dials := modesFixture(t, 0)
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "sip:desk@pbx.example.com", Mode: core.ModeBridge}, nil)
	if err != nil || tr.Status != core.TransferCompleted || !tr.Attempts[0].Bridged {
		t.Fatalf("bridge transfer = %+v, %v", tr, err)
	}
	leg := (*dials)[0]
	if leg.To != "sip:desk@pbx.example.com" || leg.From != "+31850835037" || leg.Trunk.Host != "" {
		t.Errorf("dial %+v", leg)
	}
	waitFor(t, func() bool { return slices.Contains(media.log(), "bridge caller leg") }, func() string { return fmt.Sprint(media.log()) })
	c, _ := f.calls.GetCall(t.Context(), f.callID)
	if c.Status != core.CallTransferred || slices.Contains(f.sip.hangups(), f.callID) {
		t.Fatalf("bridged call %s; hung up %v", c.Status, f.sip.hangups())
	}
	// The human hangs up: the server ends the caller's leg.
	f.calls.CallEnded(t.Context(), leg.CallID, core.EndCallerHangup)
	waitFor(t, func() bool { return slices.Contains(f.sip.hangups(), f.callID) }, func() string { return fmt.Sprint(f.sip.hangups()) })
	c, _ = f.calls.GetCall(t.Context(), f.callID)
	if c.Status != core.CallTransferred || c.EndReason != core.EndTransferred || c.Transfers[0].Attempts[0].LegStatus != core.LegEnded {
		t.Errorf("call %s/%s, attempt %+v", c.Status, c.EndReason, c.Transfers[0].Attempts[0])
	}
}

func TestCallerHangsUpWhileHumanRings(t *testing.T) {
	synctest.Test(t, testCallerHangsUpWhileHumanRings)
}

func testCallerHangsUpWhileHumanRings(t *testing.T) {
	f, media, _ := modesFixture(t, 0)
	ringing := make(chan struct{})
	cancelled := make(chan error, 1)
	f.sip.dial = func(ctx context.Context, d core.OutboundDial) error {
		close(ringing)
		<-ctx.Done() // the UA CANCELs when the dial's context ends
		cancelled <- ctx.Err()
		f.calls.CallEnded(context.Background(), d.CallID, core.EndNoAnswer)
		return &core.Error{Code: core.CodeUnavailable, Message: "cancelled", SIPStatus: 487}
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm}, nil)
		done <- err
	}()
	<-ringing
	f.calls.CallEnded(t.Context(), f.callID, core.EndCallerHangup)
	if err := <-done; !core.HasCode(err, core.CodeCallNotActive) {
		t.Errorf("transfer of a caller who hung up: %v", err)
	}
	select {
	case err := <-cancelled:
		if err == nil {
			t.Error("dial context not done")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the human's phone kept ringing after the caller hung up")
	}
	waitFor(t, func() bool { return slices.Contains(media.log(), "unhold caller") }, func() string { return fmt.Sprint(media.log()) })
}

func TestFallbackDestinationsInOrder(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	f.sip.refer = func(ctx context.Context, callID, referTo string) (int, error) {
		status := 486
		if strings.HasPrefix(referTo, "sip:desk@") {
			status = 200
		}
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: status})
		return 202, nil
	}
	var steps []core.Transfer
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
		CallID: f.callID, Destination: "+31612345678", FallbackDestinations: []string{"sip:desk@pbx.example.com"},
	}, func(s core.Transfer) { steps = append(steps, s) })
	if err != nil || tr.Status != core.TransferCompleted || tr.Attempt != 2 {
		t.Fatalf("transfer = %+v, %v", tr, err)
	}
	if a := tr.Attempts[0]; a.Status != core.TransferFailed || a.SIPStatus != 486 || a.EndedAt == nil {
		t.Errorf("first attempt %+v", a)
	}
	if got := fmt.Sprint(f.sip.referTos); got != "[sip:+31612345678@127.0.0.1:5070;transport=tcp sip:desk@pbx.example.com]" {
		t.Errorf("REFERs %s", got)
	}
	// Every step announced belongs to its attempt, in order.
	last := 0
	for _, s := range steps {
		if s.Attempt < last {
			t.Errorf("attempt went back: %d after %d", s.Attempt, last)
		}
		last = s.Attempt
	}
	stored, err := f.store.GetCall(t.Context(), f.callID)
	if err != nil || len(stored.Transfers) != 1 || len(stored.Transfers[0].Attempts) != 2 || stored.Transfers[0].Attempts[1].Status != core.TransferCompleted {
		t.Errorf("stored %+v, %v", stored.Transfers, err)
	}
}

func TestFallbackAllFail(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	f.sip.refer = func(ctx context.Context, callID, referTo string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 480})
		return 202, nil
	}
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
		CallID: f.callID, Destination: "+31612345678", FallbackDestinations: []string{"sip:desk@pbx.example.com"},
	}, nil)
	if !core.HasCode(err, core.CodeTransferFailed) || !strings.Contains(tr.Reason, "all 2 destinations failed") {
		t.Fatalf("transfer = %+v, %v", tr, err)
	}
	c, _ := f.calls.GetCall(t.Context(), f.callID)
	if c.Status != core.CallInProgress {
		t.Errorf("call %s", c.Status)
	}
}

// waitFor lets every goroutine of the test's bubble (synctest) run until
// it is blocked, then checks ok: what the test waits for has happened by
// then, or never will.
func waitFor(t *testing.T, ok func() bool, got func() string) {
	t.Helper()
	synctest.Wait()
	if !ok() {
		t.Fatalf("not reached; got %s", got())
	}
}

func TestCallerHangsUpBridgedCall(t *testing.T) { synctest.Test(t, testCallerHangsUpBridgedCall) }

func testCallerHangsUpBridgedCall(t *testing.T) {
	f, _, dials := modesFixture(t, 0)
	if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeBridge}, nil); err != nil {
		t.Fatal(err)
	}
	leg := (*dials)[0].CallID
	f.calls.CallEnded(t.Context(), f.callID, core.EndCallerHangup)
	waitFor(t, func() bool { return slices.Contains(f.sip.hangups(), leg) }, func() string { return fmt.Sprint(f.sip.hangups()) })
	stored, err := f.store.GetCall(t.Context(), f.callID)
	if err != nil || stored.Status != core.CallTransferred || stored.EndReason != core.EndTransferred {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	waitFor(t, func() bool {
		s, _ := f.store.GetCall(t.Context(), f.callID)
		return s.Transfers[0].Attempts[0].LegStatus == core.LegEnded
	}, func() string { return "leg not recorded ended" })
}

// TestWarmFallbacksSayMessageOnce: every warm attempt finds the human
// busy; hold stops after each, and only when nobody is left does the
// caller hear the fallback message. No REFER goes out.
func TestWarmFallbacksSayMessageOnce(t *testing.T) {
	f, media, _ := modesFixture(t, 486)
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		media.add("refer")
		return 202, nil
	}
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
		CallID: f.callID, Destination: "+31612345678", FallbackDestinations: []string{"sip:desk@pbx.example.com"},
		Mode: core.ModeWarm,
	}, nil)
	if !core.HasCode(err, core.CodeTransferFailed) || len(tr.Attempts) != 2 {
		t.Fatalf("transfer = %+v, %v", tr, err)
	}
	want := []string{"say caller: Connecting you to sales.", "hold caller", "unhold caller", "hold caller", "unhold caller", "say caller: " + core.DefaultFallbackMessage}
	if got := media.log(); !slices.Equal(got, want) {
		t.Errorf("media %q, want %q", got, want)
	}
}

func TestValidateSIPHeaders(t *testing.T) {
	long := strings.Repeat("a", 257)
	for _, tc := range []struct {
		h  map[string]string
		ok bool
	}{
		{map[string]string{"X-Account": "42", "User-to-User": "56a3;encoding=hex"}, true},
		{map[string]string{"x-lower-case": "ok"}, true},
		{map[string]string{"Contact": "<sip:evil@x>"}, false},
		{map[string]string{"X-": "empty name after X-"}, false},
		{map[string]string{"X-A B": "space"}, false},
		{map[string]string{"X-A": "a\r\nVia: evil"}, false},
		{map[string]string{"X-A": "tab\tinside"}, false},
		{map[string]string{"X-A": ""}, false},
		{map[string]string{"X-A": long}, false},
		{map[string]string{"X-Transfer-Summary": "set from summary"}, false},
		{map[string]string{"X-A": "1", "x-a": "2"}, false},
	} {
		_, err := core.ValidateSIPHeaders("sip_headers", tc.h)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.h, err, tc.ok)
		}
	}
	many := map[string]string{}
	for i := range 11 {
		many[fmt.Sprintf("X-H%d", i)] = "v"
	}
	if _, err := core.ValidateSIPHeaders("sip_headers", many); err == nil {
		t.Error("11 headers accepted")
	}
	if _, err := core.ValidateDestination("d", core.Destination{Type: "number", Number: "+31612345678", Description: "x", Mode: "consult"}); err == nil {
		t.Error("an unknown mode accepted")
	}
	if _, err := core.ValidateDestination("d", core.Destination{Type: "number", Number: "+31612345678", Description: "x", TransferRouting: core.TransferRouting{DialTimeout: 2}}); err == nil {
		t.Error("a 2 s dial_timeout accepted")
	}
	if _, err := core.ValidateDestination("d", core.Destination{Type: "number", Number: "+31612345678", Description: "x", Mode: "warm", TransferRouting: core.TransferRouting{CallerID: "caller", DialTimeout: 20}, SIPHeaders: map[string]string{"X-Queue": "sales"}}); err != nil {
		t.Errorf("a full warm destination refused: %v", err)
	}
}

// TestWarmTransferWithoutReplacesSupport: a caller's side that does not
// list Replaces is bridged to the human rather than sent a REFER it might
// follow with a second call.
func TestWarmTransferWithoutReplacesSupport(t *testing.T) {
	synctest.Test(t, testWarmTransferWithoutReplacesSupport)
}

func testWarmTransferWithoutReplacesSupport(t *testing.T) {
	f, media, dials := modesFixture(t, 0)
	f.sip.dialog = func(callID string) (core.SIPDialog, error) {
		return core.SIPDialog{CallID: "d-" + callID, LocalTag: "a", RemoteTag: "b", RemoteTarget: "sip:x@10.0.0.9"}, nil
	}
	f.sip.refer = func(context.Context, string, string) (int, error) {
		t.Error("a REFER was sent to a caller without Replaces")
		return 202, nil
	}
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm}, nil)
	if err != nil || tr.Status != core.TransferCompleted || !tr.Attempts[0].Bridged || !strings.Contains(tr.Reason, "does not support Replaces") {
		t.Fatalf("transfer = %+v, %v", tr, err)
	}
	leg := (*dials)[0].CallID
	waitFor(t, func() bool { return slices.Contains(media.log(), "bridge caller leg") }, func() string { return fmt.Sprint(media.log()) })
	if i, j := slices.Index(media.log(), "unhold caller"), slices.Index(media.log(), "bridge caller leg"); i < 0 || i > j {
		t.Errorf("hold not stopped before the bridge: %q", media.log())
	}
	f.calls.CallEnded(t.Context(), leg, core.EndCallerHangup)
	waitFor(t, func() bool { return slices.Contains(f.sip.hangups(), f.callID) }, func() string { return fmt.Sprint(f.sip.hangups()) })
}

// TestBlindSaysMessageBeforeRefer: each blind attempt's message is said in
// full before its REFER goes, the fallback's own message before its own.
func TestBlindSaysMessageBeforeRefer(t *testing.T) {
	f, media, _ := modesFixture(t, 0)
	f.sip.refer = func(ctx context.Context, callID, referTo string) (int, error) {
		media.add("refer " + referTo)
		status := 486
		if strings.HasPrefix(referTo, "sip:desk@") {
			status = 200
		}
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: status})
		return 202, nil
	}
	if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{
		CallID: f.callID, Destination: "+31612345678", FallbackDestinations: []string{"sip:desk@pbx.example.com"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"say caller: Connecting you to sales.", "refer sip:+31612345678@127.0.0.1:5070;transport=tcp", "refer sip:desk@pbx.example.com"}
	if got := media.log(); !slices.Equal(got, want) {
		t.Errorf("media %q, want %q", got, want)
	}
}

// blockingMedia says nothing until its context ends.
type blockingMedia struct{ saying chan struct{} }

func (b blockingMedia) Say(ctx context.Context, _ string, _ core.Utterance) error {
	close(b.saying)
	<-ctx.Done()
	return ctx.Err()
}
func (blockingMedia) Hold(context.Context, string, string) (func(), error) { return func() {}, nil }
func (blockingMedia) Bridge(context.Context, string, string) (core.BridgeStats, error) {
	return core.BridgeStats{}, nil
}

// TestCallerHangsUpDuringBlindMessage: no REFER goes to a caller who hung
// up while hearing the transfer's message.
func TestCallerHangsUpDuringBlindMessage(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	media := blockingMedia{saying: make(chan struct{})}
	f.calls.SetMedia(media)
	f.sip.refer = func(context.Context, string, string) (int, error) {
		t.Error("REFER sent to a caller who hung up")
		return 202, nil
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
		done <- err
	}()
	<-media.saying
	f.calls.CallEnded(t.Context(), f.callID, core.EndCallerHangup)
	if err := <-done; !core.HasCode(err, core.CodeCallNotActive) {
		t.Fatalf("transfer: %v", err)
	}
}
