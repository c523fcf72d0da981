package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/voicedock/voicedock/core"
)

func TestRoutingFieldsValidated(t *testing.T) {
	dest := func(r core.TransferRouting) core.Destination {
		return core.Destination{Type: "number", Number: "+31612345678", Description: "x", Mode: core.ModeWarm, TransferRouting: r}
	}
	for _, c := range []struct {
		r     core.TransferRouting
		param string
	}{
		{core.TransferRouting{CallerID: "someone"}, "d.caller_id"},
		{core.TransferRouting{CallerID: "+1900"}, "d.caller_id"},
		{core.TransferRouting{HoldAudioURL: "http://example.com/hold.wav"}, "d.hold_audio_url"},
		{core.TransferRouting{HoldAudioURL: "hold.wav"}, "d.hold_audio_url"},
		{core.TransferRouting{HoldAudioURL: "/srv/audio/../etc/passwd"}, "d.hold_audio_url"},
		{core.TransferRouting{RingTimeoutSeconds: 4}, "d.ring_timeout_seconds"},
		{core.TransferRouting{RingTimeoutSeconds: 121}, "d.ring_timeout_seconds"},
		{core.TransferRouting{DialTimeout: 200}, "d.dial_timeout"},
		{core.TransferRouting{OnFailure: "retry"}, "d.on_failure"},
		{core.TransferRouting{OnFailureMessage: strings.Repeat("x", 1001)}, "d.on_failure_message"},
	} {
		_, err := core.ValidateDestination("d", dest(c.r))
		if e := core.AsError(err); e == nil || e.Code != core.CodeInvalidRequest || e.Param != c.param {
			t.Errorf("%+v: %v, want invalid_request on %s", c.r, err, c.param)
		}
	}
	good := core.TransferRouting{CallerID: "+31850835037", HoldAudioURL: "https://example.com/hold.wav", RingTimeoutSeconds: 120, DialTimeout: 5, OnFailure: core.OnFailureEndCall, OnFailureMessage: "Goodbye."}
	if _, err := core.ValidateDestination("d", dest(good)); err != nil {
		t.Errorf("good routing refused: %v", err)
	}
}

// TestRingTimeoutRecorded: the attempt shows the ring timeout in force:
// ring_timeout_seconds over dial_timeout, a request's over the
// destination's, and on_failure.
func TestRingTimeoutRecorded(t *testing.T) {
	f, _, _ := modesFixture(t, 486)
	for _, c := range []struct {
		r    core.TransferRouting
		want int
	}{
		{core.TransferRouting{DialTimeout: 10}, 10},
		{core.TransferRouting{DialTimeout: 10, RingTimeoutSeconds: 20}, 20},
		{core.TransferRouting{}, 30},
	} {
		tr, _ := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeBridge, Routing: c.r}, nil)
		if len(tr.Attempts) != 1 || tr.Attempts[0].RingTimeoutSeconds != c.want || tr.Attempts[0].OnFailure != core.OnFailureNext || tr.Attempts[0].HoldAudio != core.HoldRingback {
			t.Errorf("%+v: attempts %+v, want ring_timeout_seconds %d", c.r, tr.Attempts, c.want)
		}
	}
}

// TestOnFailureBackToAssistant: a busy destination whose on_failure is
// back_to_assistant ends the transfer there: the fallback is not tried,
// the caller hears the message and stays with the assistant.
func TestOnFailureBackToAssistant(t *testing.T) {
	f, media, _ := modesFixture(t, 0)
	f.sip.refer = func(ctx context.Context, callID, referTo string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 486})
		return 202, nil
	}
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
		CallID: f.callID, Destination: "+31612345678", FallbackDestinations: []string{"sip:desk@pbx.example.com"},
		Routing: core.TransferRouting{OnFailure: core.OnFailureBackToAssistant, OnFailureMessage: "Sales is busy."},
	}, nil)
	if !core.HasCode(err, core.CodeTransferFailed) || tr.Status != core.TransferFailed || !strings.Contains(tr.Reason, "back_to_assistant") || !strings.Contains(err.Error(), "still connected") {
		t.Fatalf("transfer = %+v, %v", tr, err)
	}
	if len(f.sip.referTos) != 1 {
		t.Errorf("REFERs %v: the fallback was tried", f.sip.referTos)
	}
	if a := tr.Attempts[1]; a.Status != core.TransferCanceled || !strings.Contains(a.Reason, "not tried") {
		t.Errorf("second attempt %+v", a)
	}
	waitUntil(t, func() bool { return slices.Contains(media.log(), "say caller: Sales is busy.") }, func() string { return fmt.Sprint(media.log()) })
	if c, _ := f.calls.GetCall(t.Context(), f.callID); c.Status != core.CallInProgress {
		t.Errorf("call %s after back_to_assistant", c.Status)
	}
}

// TestOnFailureEndCall: a warm destination that is busy, with on_failure
// end_call: the caller hears the message, then the call ends with
// end_reason transfer_failed. A failure on_failure does not cover (404)
// goes on to the next destination.
func TestOnFailureEndCall(t *testing.T) {
	f, media, dials := modesFixture(t, 486)
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
		CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm, FallbackDestinations: []string{"sip:desk@pbx.example.com"},
		Routing: core.TransferRouting{OnFailure: core.OnFailureEndCall, OnFailureMessage: "Nobody is free; goodbye."},
	}, nil)
	if !core.HasCode(err, core.CodeTransferFailed) || len(*dials) != 1 || !strings.Contains(err.Error(), "the call ends") {
		t.Fatalf("transfer = %+v, %v; %d dials", tr, err, len(*dials))
	}
	waitUntil(t, func() bool {
		c, _ := f.calls.GetCall(t.Context(), f.callID)
		return c.Status == core.CallEnded
	}, func() string { return fmt.Sprint(media.log()) })
	c, _ := f.calls.GetCall(t.Context(), f.callID)
	if c.EndReason != core.EndTransferFailed {
		t.Errorf("end_reason %q", c.EndReason)
	}
	want := []string{"say caller: Connecting you to sales.", "hold caller", "unhold caller", "say caller: Nobody is free; goodbye."}
	if got := media.log(); !slices.Equal(got, want) {
		t.Errorf("media %q, want %q", got, want)
	}
}

func TestOnFailureOnlyWhenNobodyAnswered(t *testing.T) {
	f, _, dials := modesFixture(t, 404)
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
		CallID: f.callID, Destination: "+31612345678", Mode: core.ModeBridge, FallbackDestinations: []string{"sip:desk@pbx.example.com"},
		Routing: core.TransferRouting{OnFailure: core.OnFailureEndCall},
	}, nil)
	if !core.HasCode(err, core.CodeTransferFailed) || len(*dials) != 2 {
		t.Fatalf("transfer = %+v, %v; %d dials, want both destinations", tr, err, len(*dials))
	}
	c, _ := f.calls.GetCall(t.Context(), f.callID)
	if c.Status != core.CallInProgress {
		t.Errorf("call %s", c.Status)
	}
}

// TestCallerIDOurs: caller_id presents our number, the caller's (with a
// Diversion from ours) or another number of ours; any other is refused
// before anything is dialled.
func TestCallerIDOurs(t *testing.T) {
	f, _, dials := modesFixture(t, 486)
	for _, c := range []struct{ id, from, diverted string }{
		{"", "+31850835037", ""},
		{core.CallerIDCaller, "+31611122233", "+31850835037"},
		{"+31850835037", "+31850835037", ""},
		{"+31611122233", "+31611122233", "+31850835037"},
	} {
		n := len(*dials)
		_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeBridge, Routing: core.TransferRouting{CallerID: c.id}}, nil)
		if !core.HasCode(err, core.CodeTransferFailed) || len(*dials) != n+1 {
			t.Fatalf("caller_id %q: %v", c.id, err)
		}
		if d := (*dials)[n]; d.From != c.from || d.DivertedFrom != c.diverted {
			t.Errorf("caller_id %q: From %q Diversion %q, want %q %q", c.id, d.From, d.DivertedFrom, c.from, c.diverted)
		}
	}
	n := len(*dials)
	_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeBridge, Routing: core.TransferRouting{CallerID: "+31201234567"}}, nil)
	if e := core.AsError(err); e == nil || e.Code != core.CodeCallerIDNotAllowed || e.Param != "caller_id" || len(*dials) != n {
		t.Errorf("a caller_id not ours: %v, %d dials", err, len(*dials)-n)
	}
}

// TestBlindRingTimeout: a blind transfer whose REFER was accepted but
// brings no final NOTIFY fails at the destination's ring timeout, not
// VOICEDOCK_TRANSFER_TIMEOUT, as no answer.
func TestBlindRingTimeout(t *testing.T) { synctest.Test(t, testBlindRingTimeout) }

func testBlindRingTimeout(t *testing.T) {
	f := newFixture(t, core.CallsConfig{TransferTimeout: time.Minute})
	f.sip.refer = func(ctx context.Context, callID, referTo string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 180})
		return 202, nil
	}
	start := time.Now()
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Routing: core.TransferRouting{RingTimeoutSeconds: 7}}, nil)
	if !core.HasCode(err, core.CodeTransferFailed) || !strings.Contains(tr.Reason, "did not answer within 7s") {
		t.Fatalf("transfer = %+v, %v", tr, err)
	}
	if d := time.Since(start); d != 7*time.Second {
		t.Errorf("failed after %s", d)
	}
	if a := tr.Attempts[0]; a.RingTimeoutSeconds != 7 || a.HoldAudio != "" {
		t.Errorf("attempt %+v", a)
	}
}

// waitUntil polls ok for up to 5 s: for what the manager does in its own
// goroutines after Transfer returned.
func waitUntil(t *testing.T, ok func() bool, got func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", got())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCheckDestinationShowsRouting: check_destination shows how one of
// the assistant's destinations would be rung, and says when its caller_id
// is not ours.
func TestCheckDestinationShowsRouting(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	ctx := t.Context()
	a, err := f.svc.CreateAssistant(ctx, core.AssistantConfig{Name: "B", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
		Type: "transfer_call", Destinations: []core.Destination{
			{Type: "number", Number: "+31612345678", Description: "sales", Mode: core.ModeWarm, TransferRouting: core.TransferRouting{
				CallerID: "+31201234567", HoldAudioURL: "https://example.com/hold.wav", DialTimeout: 15, RingTimeoutSeconds: 25, OnFailure: core.OnFailureEndCall}},
			{Type: "sip", SIPURI: "sip:desk@pbx.example.com", Description: "desk"},
		},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.svc.CheckDestination(ctx, "+31612345678", a.ID)
	if err != nil || c.Transfer == nil {
		t.Fatalf("check = %+v, %v", c, err)
	}
	s := *c.Transfer
	if s.Mode != core.ModeWarm || s.RingTimeoutSeconds != 25 || s.OnFailure != core.OnFailureEndCall || s.HoldAudio != "https://example.com/hold.wav" ||
		s.OnFailureMessage != core.DefaultFallbackMessage || !strings.Contains(s.CallerIDNote, "caller_id_not_allowed") {
		t.Errorf("settings %+v", s)
	}
	c, err = f.svc.CheckDestination(ctx, "sip:desk@pbx.example.com", a.ID)
	if err != nil || c.Transfer == nil || c.Transfer.Mode != core.ModeBlind || c.Transfer.RingTimeoutSeconds != 30 || c.Transfer.HoldAudio != "" || c.Transfer.OnFailure != core.OnFailureNext {
		t.Errorf("blind destination: %+v, %v", c.Transfer, err)
	}
	if c, err := f.svc.CheckDestination(ctx, "+31612345679", a.ID); err != nil || c.Transfer != nil {
		t.Errorf("a destination not configured: %+v, %v", c.Transfer, err)
	}
}

// TestHoldAudioCheckedAsMessageAudio: a local hold_audio_url is refused
// when the assistant is saved, and when a request brings one, unless the
// audio folder has it; the refusal names the field.
func TestHoldAudioCheckedAsMessageAudio(t *testing.T) {
	ctx := t.Context()
	svc := core.NewConfiguration(openStore(t), slog.New(slog.DiscardHandler))
	svc.SetAudioFiles(audioFiles{"/srv/audio/hold.wav": true})
	hold := func(ref string) core.AssistantConfig {
		return core.AssistantConfig{Name: "A", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
			Type: core.ToolTransferCall, Destinations: []core.Destination{
				{Type: "sip", SIPURI: "sip:desk@127.0.0.1", Description: "desk", Mode: core.ModeWarm, TransferRouting: core.TransferRouting{HoldAudioURL: ref}},
			},
		}}}}
	}
	_, err := svc.CreateAssistant(ctx, hold("/srv/audio/missing.wav"))
	if e := core.AsError(err); e == nil || e.Code != core.CodeInvalidRequest || e.Param != "llm_config.tools[0].destinations[0].hold_audio_url" {
		t.Fatalf("a missing hold recording saved: %v", err)
	}
	if _, err := svc.CreateAssistant(ctx, hold("/srv/audio/hold.wav")); err != nil {
		t.Fatal(err)
	}

	f := newFixture(t, core.CallsConfig{AudioFiles: audioFiles{"/srv/audio/hold.wav": true}})
	_, err = f.calls.Transfer(ctx, core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm, Routing: core.TransferRouting{HoldAudioURL: "/srv/audio/missing.wav"}}, nil)
	if e := core.AsError(err); e == nil || e.Code != core.CodeInvalidRequest || e.Param != "hold_audio_url" {
		t.Fatalf("a request's missing hold recording: %v", err)
	}
	if c, _ := f.calls.GetCall(ctx, f.callID); len(c.Transfers) != 0 {
		t.Errorf("a refused request left %d transfers on record", len(c.Transfers))
	}
}
