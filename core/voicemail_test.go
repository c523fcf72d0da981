package core_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/voicedock/voicedock/core"
)

// amdMedia is recMedia with answering-machine detection that finds a
// machine on the legs listed in machines (by their order: 1 is the first
// leg dialled).
type amdMedia struct {
	*recMedia
	mu       sync.Mutex
	legs     []string
	machines map[int]bool
}

func (m *amdMedia) DetectVoicemail(_ context.Context, callID string, opts core.VoicemailListen) (core.VoicemailCheck, error) {
	m.mu.Lock()
	m.legs = append(m.legs, callID)
	n := len(m.legs)
	m.mu.Unlock()
	waitForBeep := opts.WaitForBeep
	if waitForBeep != (opts.Message != nil) {
		m.add("a message to prepare without waiting for the beep, or the other way round")
	}
	m.add(fmt.Sprintf("detect leg %d (beep %v)", n, waitForBeep))
	if m.machines[n] {
		if opts.Message != nil {
			m.add("prepare: " + opts.Message.Text)
		}
		return core.VoicemailCheck{AnsweredBy: core.AnsweredByMachine, Reason: "a greeting longer than 2.3s", DecidedAfter: 2600e6, Beep: waitForBeep}, nil
	}
	return core.VoicemailCheck{AnsweredBy: core.AnsweredByHuman, Reason: "a short greeting", DecidedAfter: 1500e6}, nil
}

func voicemailFixture(t *testing.T, machines ...int) (*fixture, *amdMedia, *[]core.OutboundDial) {
	f, rec, dials := modesFixture(t, 0)
	m := &amdMedia{recMedia: rec, machines: map[int]bool{}}
	for _, n := range machines {
		m.machines[n] = true
	}
	f.calls.SetMedia(m)
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	return f, m, dials
}

func TestVoicemailStopTriesTheNextDestination(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, media, dials := voicemailFixture(t, 1)
		tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
			CallID: f.callID, Destination: "+31612345678", FallbackDestinations: []string{"sip:desk@pbx.example.com"},
			Mode: core.ModeWarm, Summary: "Refund", VoicemailAction: core.VoicemailStop,
		}, nil)
		if err != nil || tr.Status != core.TransferCompleted || tr.Attempt != 2 {
			t.Fatalf("transfer = %+v, %v", tr, err)
		}
		first, second := tr.Attempts[0], tr.Attempts[1]
		if first.AnsweredBy != core.AnsweredByMachine || first.Status != core.AttemptVoicemail ||
			first.VoicemailAction != core.VoicemailStop || !strings.Contains(first.Reason, "voicemail box answered") {
			t.Errorf("first attempt %+v", first)
		}
		if second.AnsweredBy != core.AnsweredByHuman || second.Status != core.TransferCompleted {
			t.Errorf("second attempt %+v", second)
		}
		leg1 := (*dials)[0].CallID
		waitFor(t, func() bool { return slices.Contains(f.sip.hangups(), leg1) }, func() string { return fmt.Sprint(f.sip.hangups()) })
		// The machine hears nothing; the human hears the summary.
		want := []string{"say caller: Connecting you to sales.", "hold caller", "detect leg 1 (beep false)", "unhold caller",
			"hold caller", "detect leg 2 (beep false)", "say leg: Refund", "unhold caller"}
		waitFor(t, func() bool { return slices.Equal(media.log(), want) }, func() string { return fmt.Sprint(media.log()) })
		stored, err := f.store.GetCall(t.Context(), f.callID)
		if err != nil || stored.Transfers[0].Attempts[0].Status != core.AttemptVoicemail {
			t.Errorf("stored %+v, %v", stored.Transfers, err)
		}
	})
}

func TestVoicemailStopLastDestinationBringsTheCallerBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, media, _ := voicemailFixture(t, 1)
		tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
			CallID: f.callID, Destination: "+31612345678", Mode: core.ModeBridge, VoicemailAction: core.VoicemailStop, FallbackMessage: "Nobody is free.",
		}, nil)
		if !core.HasCode(err, core.CodeTransferFailed) || tr.Attempts[0].Status != core.AttemptVoicemail {
			t.Fatalf("transfer = %+v, %v", tr, err)
		}
		// The caller waits on hold while the detection listens.
		want := []string{"say caller: Connecting you to sales.", "hold caller", "detect leg 1 (beep false)", "unhold caller", "say caller: Nobody is free."}
		waitFor(t, func() bool { return slices.Equal(media.log(), want) }, func() string { return fmt.Sprint(media.log()) })
		c, _ := f.calls.GetCall(t.Context(), f.callID)
		if c.Status != core.CallInProgress || c.Transfers[0].Attempts[0].Bridged {
			t.Errorf("call %s, attempt %+v", c.Status, c.Transfers[0].Attempts[0])
		}
	})
}

func TestVoicemailLeaveMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, media, dials := voicemailFixture(t, 1)
		tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
			CallID: f.callID, Destination: "+31612345678", FallbackDestinations: []string{"sip:desk@pbx.example.com"},
			Mode: core.ModeWarm, Summary: "Refund for order 42", VoicemailAction: core.VoicemailLeaveMessage,
		}, nil)
		if !core.HasCode(err, core.CodeTransferFailed) || tr.Attempt != 1 {
			t.Fatalf("transfer = %+v, %v", tr, err)
		}
		if len(*dials) != 1 {
			t.Errorf("%d legs dialled; after a message is left no other destination is rung", len(*dials))
		}
		first, second := tr.Attempts[0], tr.Attempts[1]
		if first.Status != core.AttemptVoicemail || !strings.Contains(first.Reason, "left as a message") {
			t.Errorf("first attempt %+v", first)
		}
		if second.Status != core.TransferCanceled || !strings.Contains(second.Reason, "not tried") || second.StartedAt != nil {
			t.Errorf("second attempt %+v", second)
		}
		// The summary goes to the voicemail box after its beep, then the
		// leg is hung up and the caller hears that a message was left.
		want := []string{"say caller: Connecting you to sales.", "hold caller", "detect leg 1 (beep true)", "prepare: Refund for order 42", "say leg: Refund for order 42",
			"unhold caller", "say caller: " + core.DefaultVoicemailFallbackMessage}
		waitFor(t, func() bool { return slices.Equal(media.log(), want) }, func() string { return fmt.Sprint(media.log()) })
		if !slices.Contains(f.sip.hangups(), (*dials)[0].CallID) {
			t.Errorf("the voicemail leg was not hung up: %v", f.sip.hangups())
		}
		c, _ := f.calls.GetCall(t.Context(), f.callID)
		if c.Status != core.CallInProgress {
			t.Errorf("call %s", c.Status)
		}
	})
}

func TestVoicemailHumanIsPutThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, media, _ := voicemailFixture(t)
		tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
			CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm, Summary: "Refund", VoicemailAction: core.VoicemailLeaveMessage,
		}, nil)
		if err != nil || tr.Status != core.TransferCompleted || tr.Attempts[0].AnsweredBy != core.AnsweredByHuman {
			t.Fatalf("transfer = %+v, %v", tr, err)
		}
		want := []string{"say caller: Connecting you to sales.", "hold caller", "detect leg 1 (beep true)", "say leg: Refund", "unhold caller"}
		waitFor(t, func() bool { return slices.Equal(media.log(), want) }, func() string { return fmt.Sprint(media.log()) })
	})
}

func TestVoicemailNoneDoesNotListen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, media, _ := voicemailFixture(t, 1)
		tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm, Summary: "Refund"}, nil)
		if err != nil || tr.Status != core.TransferCompleted || tr.Attempts[0].AnsweredBy != "" || tr.Attempts[0].VoicemailAction != "" {
			t.Fatalf("transfer = %+v, %v", tr, err)
		}
		waitFor(t, func() bool {
			return !slices.ContainsFunc(media.log(), func(s string) bool { return strings.HasPrefix(s, "detect") })
		},
			func() string { return fmt.Sprint(media.log()) })
	})
}

func TestVoicemailActionRefusals(t *testing.T) {
	f, _, dials := voicemailFixture(t, 1)
	for _, c := range []struct {
		name string
		req  core.TransferRequest
	}{
		{"blind asked for", core.TransferRequest{Mode: core.ModeBlind, VoicemailAction: core.VoicemailStop}},
		{"blind by default", core.TransferRequest{VoicemailAction: core.VoicemailLeaveMessage}},
		{"unknown action", core.TransferRequest{Mode: core.ModeWarm, VoicemailAction: "hang_up"}},
	} {
		c.req.CallID, c.req.Destination = f.callID, "+31612345678"
		_, err := f.calls.Transfer(t.Context(), c.req, nil)
		if e := core.AsError(err); e == nil || e.Code != core.CodeInvalidRequest || e.Param != "voicemail_action" {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if len(*dials) != 0 || len(f.sip.referTos) != 0 {
		t.Errorf("a refused transfer dialled %d legs and sent %d REFERs", len(*dials), len(f.sip.referTos))
	}
	c, _ := f.calls.GetCall(t.Context(), f.callID)
	if len(c.Transfers) != 0 {
		t.Errorf("a refused transfer was recorded: %+v", c.Transfers)
	}

	for _, d := range []core.Destination{
		{Type: "number", Number: "+31612345678", Description: "x", VoicemailAction: core.VoicemailStop},
		{Type: "number", Number: "+31612345678", Description: "x", Mode: core.ModeBlind, VoicemailAction: core.VoicemailLeaveMessage},
		{Type: "number", Number: "+31612345678", Description: "x", Mode: core.ModeWarm, VoicemailAction: "beep"},
	} {
		_, err := core.ValidateDestination("destinations[0]", d)
		if e := core.AsError(err); e == nil || e.Param != "destinations[0].voicemail_action" {
			t.Errorf("destination %+v: %v", d, err)
		}
	}
	for _, d := range []core.Destination{
		{Type: "number", Number: "+31612345678", Description: "x", Mode: core.ModeWarm, VoicemailAction: core.VoicemailStop},
		{Type: "number", Number: "+31612345678", Description: "x", Mode: core.ModeBridge, VoicemailAction: core.VoicemailLeaveMessage},
		{Type: "number", Number: "+31612345678", Description: "x", VoicemailAction: core.VoicemailNone},
	} {
		if _, err := core.ValidateDestination("destinations[0]", d); err != nil {
			t.Errorf("destination %+v refused: %v", d, err)
		}
	}
}

// legAMDMedia is legRec with answering-machine detection (amdMedia's).
type legAMDMedia struct {
	*legRec
	amd *amdMedia
}

func (m *legAMDMedia) DetectVoicemail(ctx context.Context, callID string, opts core.VoicemailListen) (core.VoicemailCheck, error) {
	return m.amd.DetectVoicemail(ctx, callID, opts)
}

// The detection is the first step on the human's call after the
// extension; a human it heard need not be waited for again, and is then
// asked to accept. A machine never hears the accept prompt.
func TestVoicemailWithConsultSteps(t *testing.T) {
	for _, machine := range []bool{false, true} {
		t.Run(fmt.Sprintf("machine=%v", machine), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, lm, _ := consultFixture(t)
				amd := &amdMedia{recMedia: lm.recMedia, machines: map[int]bool{1: machine}}
				f.calls.SetMedia(&legAMDMedia{legRec: lm, amd: amd})
				yes := true
				done := startTransfer(t, f, core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm,
					Summary: "Refund", Extension: "204", WaitForHumanSpeech: &yes, RequireAccept: &yes, VoicemailAction: core.VoicemailStop})
				if machine {
					res := <-done
					if !core.HasCode(res.err, core.CodeTransferFailed) || res.tr.Attempts[0].Status != core.AttemptVoicemail {
						t.Fatalf("transfer = %+v, %v", res.tr, res.err)
					}
					want := []string{"say caller: Connecting you to sales.", "hold caller", "listen leg", "digits leg: 204", "detect leg 1 (beep false)", "unhold caller", "say caller: " + core.DefaultFallbackMessage}
					waitFor(t, func() bool { return slices.Equal(lm.log(), want) }, func() string { return fmt.Sprint(lm.log()) })
					return
				}
				// No speech is sent: the wait for it is skipped, straight
				// to the summary and the prompt.
				waitFor(t, func() bool { return slices.Contains(lm.log(), "say leg: "+core.DefaultAcceptPrompt) }, func() string { return fmt.Sprint(lm.log()) })
				lm.signals <- core.LegSignal{Digit: "1"}
				res := <-done
				if res.err != nil || res.tr.Status != core.TransferCompleted || res.tr.Attempts[0].AnsweredBy != core.AnsweredByHuman {
					t.Fatalf("transfer = %+v, %v", res.tr, res.err)
				}
				want := []string{"say caller: Connecting you to sales.", "hold caller", "listen leg", "digits leg: 204", "detect leg 1 (beep false)",
					"say leg: Refund", "say leg: " + core.DefaultAcceptPrompt, "unhold caller"}
				waitFor(t, func() bool { return slices.Equal(lm.log(), want) }, func() string { return fmt.Sprint(lm.log()) })
			})
		})
	}
}
