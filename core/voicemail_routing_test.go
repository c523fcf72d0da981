package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/voicedock/voicedock/core"
)

// A voicemail box with voicemail_action stop is no answer from the human:
// on_failure back_to_assistant keeps the fallback destination from being
// rung, and the caller hears on_failure_message.
func TestVoicemailStopFollowsOnFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, media, dials := voicemailFixture(t, 1)
		tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
			CallID: f.callID, Destination: "+31612345678", FallbackDestinations: []string{"sip:desk@pbx.example.com"},
			Mode: core.ModeWarm, Summary: "Refund", VoicemailAction: core.VoicemailStop,
			Routing: core.TransferRouting{OnFailure: core.OnFailureBackToAssistant, OnFailureMessage: "Sales is away."},
		}, nil)
		if !core.HasCode(err, core.CodeTransferFailed) || !strings.Contains(tr.Reason, "back_to_assistant") {
			t.Fatalf("transfer = %+v, %v", tr, err)
		}
		if len(*dials) != 1 || tr.Attempts[0].Status != core.AttemptVoicemail || tr.Attempts[0].OnFailure != core.OnFailureBackToAssistant ||
			tr.Attempts[1].Status != core.TransferCanceled {
			t.Errorf("%d dials, attempts %+v", len(*dials), tr.Attempts)
		}
		want := []string{"say caller: Connecting you to sales.", "hold caller", "detect leg 1 (beep false)", "unhold caller", "say caller: Sales is away."}
		waitFor(t, func() bool { return slices.Equal(media.log(), want) }, func() string { return fmt.Sprint(media.log()) })
		if c, _ := f.calls.GetCall(t.Context(), f.callID); c.Status != core.CallInProgress {
			t.Errorf("call %s", c.Status)
		}
	})
}

// After leave_message the transfer ends with the message whatever
// on_failure says; end_call still ends the call once the caller has heard
// (once) that a message was left, and back_to_assistant keeps it.
func TestVoicemailLeaveMessageWithOnFailure(t *testing.T) {
	for _, c := range []struct {
		onFailure string
		ends      bool
	}{{core.OnFailureEndCall, true}, {core.OnFailureBackToAssistant, false}} {
		t.Run(c.onFailure, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, media, dials := voicemailFixture(t, 1)
				tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
					CallID: f.callID, Destination: "+31612345678", FallbackDestinations: []string{"sip:desk@pbx.example.com"},
					Mode: core.ModeBridge, Summary: "Refund", VoicemailAction: core.VoicemailLeaveMessage,
					Routing: core.TransferRouting{OnFailure: c.onFailure, OnFailureMessage: "I left them a message."},
				}, nil)
				if !core.HasCode(err, core.CodeTransferFailed) || len(*dials) != 1 {
					t.Fatalf("transfer = %+v, %v; %d dials", tr, err, len(*dials))
				}
				if tr.Attempts[0].Status != core.AttemptVoicemail || !strings.Contains(tr.Attempts[1].Reason, "a message was left") {
					t.Errorf("attempts %+v", tr.Attempts)
				}
				if got := strings.Contains(err.Error(), "the call ends"); got != c.ends {
					t.Errorf("error %q: says the call ends = %v, want %v", err, got, c.ends)
				}
				want := []string{"say caller: Connecting you to sales.", "hold caller", "detect leg 1 (beep true)", "prepare: Refund", "say leg: Refund",
					"unhold caller", "say caller: I left them a message."}
				waitFor(t, func() bool { return slices.Equal(media.log(), want) }, func() string { return fmt.Sprint(media.log()) })
				if c.ends {
					waitFor(t, func() bool {
						got, _ := f.calls.GetCall(t.Context(), f.callID)
						return got.Status == core.CallEnded
					}, func() string { return fmt.Sprint(media.log()) })
				}
				synctest.Wait()
				got, _ := f.calls.GetCall(t.Context(), f.callID)
				switch {
				case c.ends && got.EndReason != core.EndTransferFailed:
					t.Errorf("end_reason %q", got.EndReason)
				case !c.ends && got.Status != core.CallInProgress:
					t.Errorf("call %s", got.Status)
				}
				if !slices.Equal(media.log(), want) {
					t.Errorf("media %q, want %q (the message said once)", media.log(), want)
				}
			})
		})
	}
}

// holdURLMedia records the hold audio a caller is put on.
type holdURLMedia struct{ *amdMedia }

func (m holdURLMedia) Hold(ctx context.Context, callID, audioURL string) (func(), error) {
	m.add("hold audio " + audioURL)
	return m.amdMedia.Hold(ctx, callID, audioURL)
}

// While the detection listens on a bridge transfer, the caller hears the
// destination's hold_audio_url, not silence.
func TestVoicemailBridgeHoldsWithHoldAudio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, amd, _ := voicemailFixture(t, 1)
		f.calls.SetMedia(holdURLMedia{amd})
		_, err := f.calls.Transfer(t.Context(), core.TransferRequest{
			CallID: f.callID, Destination: "+31612345678", Mode: core.ModeBridge, VoicemailAction: core.VoicemailStop,
			Routing: core.TransferRouting{HoldAudioURL: "https://example.com/hold.wav"},
		}, nil)
		if !core.HasCode(err, core.CodeTransferFailed) {
			t.Fatalf("transfer: %v", err)
		}
		want := []string{"say caller: Connecting you to sales.", "hold audio https://example.com/hold.wav", "hold caller", "detect leg 1 (beep false)", "unhold caller",
			"say caller: " + core.DefaultFallbackMessage}
		waitFor(t, func() bool { return slices.Equal(amd.log(), want) }, func() string { return fmt.Sprint(amd.log()) })
	})
}

// check_destination shows a destination's voicemail_action among the
// consult steps, each step with what its destination's on_failure makes
// of a failure, and its hold audio, beside the transfer settings.
func TestVoicemailCheckedWithRouting(t *testing.T) {
	ctx := t.Context()
	svc := core.NewConfiguration(openStore(t), slog.New(slog.DiscardHandler))
	svc.SetPolicy(mustPolicy(t, core.PolicyConfig{}))
	d := core.Destination{Type: "number", Number: "+31612345678", Description: "sales", Mode: core.ModeBridge, VoicemailAction: core.VoicemailStop,
		TransferRouting: core.TransferRouting{OnFailure: core.OnFailureEndCall, HoldAudioURL: "https://example.com/hold.wav"}}
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{Type: core.ToolTransferCall, Destinations: []core.Destination{d}}}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := svc.CheckDestination(ctx, "+31612345678", a.ID)
	if err != nil || c.Transfer == nil || c.Consult == nil {
		t.Fatalf("check = %+v, %v", c, err)
	}
	if c.Transfer.Mode != core.ModeBridge || c.Transfer.OnFailure != core.OnFailureEndCall || c.Transfer.HoldAudio != d.HoldAudioURL {
		t.Errorf("transfer %+v", c.Transfer)
	}
	steps := c.Consult.Steps
	if c.Consult.VoicemailAction != core.VoicemailStop || len(steps) != 3 || !strings.Contains(steps[0], "hold audio") ||
		!strings.Contains(steps[1], "voicemail box") || !strings.Contains(steps[1], "on_failure end_call") {
		t.Errorf("consult %+v", c.Consult)
	}
}
