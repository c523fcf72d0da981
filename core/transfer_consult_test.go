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

// legRec is recMedia that also dials extensions and hears the human's
// call: the test sends what the human does on signals, and closes it for
// a hang-up.
type legRec struct {
	*recMedia
	signals chan core.LegSignal
}

func (l *legRec) SendDigits(_ context.Context, callID, digits string) error {
	l.add("digits " + l.legOf(callID) + ": " + digits)
	return nil
}

func (l *legRec) Listen(ctx context.Context, callID string) (<-chan core.LegSignal, error) {
	l.add("listen " + l.legOf(callID))
	out := make(chan core.LegSignal)
	go func() {
		defer close(out)
		for {
			select {
			case s, ok := <-l.signals:
				if !ok {
					return
				}
				select {
				case out <- s:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func consultFixture(t *testing.T) (*fixture, *legRec, *[]core.OutboundDial) {
	t.Helper()
	f, media, dials := modesFixture(t, 0)
	lm := &legRec{recMedia: media, signals: make(chan core.LegSignal, 4)}
	f.calls.SetMedia(lm)
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	return f, lm, dials
}

type transferResult struct {
	tr  core.Transfer
	err error
}

func startTransfer(t *testing.T, f *fixture, req core.TransferRequest) chan transferResult {
	done := make(chan transferResult, 1)
	go func() {
		tr, err := f.calls.Transfer(t.Context(), req, nil)
		done <- transferResult{tr, err}
	}()
	return done
}

func TestConsultWarmAccepted(t *testing.T) { synctest.Test(t, testConsultWarmAccepted) }

// The human's phone gets the extension, then the summary and the prompt;
// no REFER goes until they press 1.
func testConsultWarmAccepted(t *testing.T) {
	f, lm, _ := consultFixture(t)
	yes := true
	done := startTransfer(t, f, core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm,
		Summary: "Refund", Extension: "12w#", RequireAccept: &yes, AcceptPrompt: "Press 1 for a refund."})
	waitFor(t, func() bool { return slices.Contains(lm.log(), "say leg: Press 1 for a refund.") }, func() string { return fmt.Sprint(lm.log()) })
	if len(f.sip.referTarget) != 0 {
		t.Fatal("the caller was referred before the human accepted")
	}
	lm.signals <- core.LegSignal{Speech: true} // talking is not accepting
	lm.signals <- core.LegSignal{Digit: "1"}
	res := <-done
	if res.err != nil || res.tr.Status != core.TransferCompleted || res.tr.Attempts[0].Status != core.TransferCompleted {
		t.Fatalf("accepted warm transfer = %+v, %v", res.tr, res.err)
	}
	want := []string{"say caller: Connecting you to sales.", "hold caller", "listen leg", "digits leg: 12w#", "say leg: Refund", "say leg: Press 1 for a refund.", "unhold caller"}
	waitFor(t, func() bool { return slices.Equal(lm.log(), want) }, func() string { return fmt.Sprint(lm.log()) })
	if rt := f.sip.referTarget; len(rt) != 1 || rt[0].Replaces == nil {
		t.Errorf("REFER %+v", rt)
	}
}

func TestConsultDeclined(t *testing.T) {
	for name, human := range map[string]func(*legRec){
		"other key": func(l *legRec) { l.signals <- core.LegSignal{Digit: "2"} },
		"hang-up":   func(l *legRec) { close(l.signals) },
		"no key":    func(*legRec) {},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testConsultDeclined(t, name, human) })
		})
	}
}

// A bridge attempt the human does not accept is recorded declined, never
// bridged; their call is hung up and the caller, with no destination
// left, hears the fallback message and stays with the assistant.
func testConsultDeclined(t *testing.T, name string, human func(*legRec)) {
	f, lm, dials := consultFixture(t)
	yes := true
	done := startTransfer(t, f, core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeBridge,
		Summary: "Refund", RequireAccept: &yes, AcceptTimeoutSeconds: 5, FallbackMessage: "Nobody is free."})
	waitFor(t, func() bool { return slices.Contains(lm.log(), "say leg: "+core.DefaultAcceptPrompt) }, func() string { return fmt.Sprint(lm.log()) })
	human(lm)
	res := <-done
	reason := map[string]string{"other key": "pressed 2", "hang-up": "hung up", "no key": "no key within 5s"}[name]
	if !core.HasCode(res.err, core.CodeTransferFailed) || !strings.Contains(res.tr.Reason, reason) {
		t.Fatalf("declined transfer = %+v, %v", res.tr, res.err)
	}
	a := res.tr.Attempts[0]
	if a.Status != core.AttemptDeclined || a.Bridged || !strings.Contains(a.Reason, reason) {
		t.Errorf("attempt %+v", a)
	}
	leg := (*dials)[0].CallID
	waitFor(t, func() bool { return slices.Contains(f.sip.hangups(), leg) }, func() string { return fmt.Sprint(f.sip.hangups()) })
	if slices.Contains(lm.log(), "bridge caller leg") || slices.Contains(f.sip.hangups(), f.callID) {
		t.Errorf("the caller was put through: %v, hung up %v", lm.log(), f.sip.hangups())
	}
	if !slices.Contains(lm.log(), "say caller: Nobody is free.") {
		t.Errorf("no fallback message: %v", lm.log())
	}
	c, _ := f.calls.GetCall(t.Context(), f.callID)
	if c.Status != core.CallInProgress || c.Transfers[0].Attempts[0].Status != core.AttemptDeclined {
		t.Errorf("call %s, attempts %+v", c.Status, c.Transfers[0].Attempts)
	}
}

func TestConsultWaitsForSpeech(t *testing.T) { synctest.Test(t, testConsultWaitsForSpeech) }

// The summary waits for the human's voice; a key pressed during the
// summary answers at once.
func testConsultWaitsForSpeech(t *testing.T) {
	f, lm, _ := consultFixture(t)
	yes := true
	done := startTransfer(t, f, core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm,
		Summary: "Refund", WaitForHumanSpeech: &yes, HumanSpeechTimeoutSeconds: 30})
	waitFor(t, func() bool { return slices.Contains(lm.log(), "listen leg") }, func() string { return fmt.Sprint(lm.log()) })
	if slices.Contains(lm.log(), "say leg: Refund") {
		t.Fatal("the summary was said before the human spoke")
	}
	lm.signals <- core.LegSignal{Speech: true}
	res := <-done
	if res.err != nil || res.tr.Status != core.TransferCompleted {
		t.Fatalf("transfer = %+v, %v", res.tr, res.err)
	}
	if !slices.Contains(lm.log(), "say leg: Refund") {
		t.Errorf("no summary: %v", lm.log())
	}
}

func TestConsultValidation(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	yes, no := true, false
	for _, c := range []struct {
		req   core.TransferRequest
		param string
	}{
		{core.TransferRequest{Mode: core.ModeWarm, Extension: "12x"}, "extension"},
		{core.TransferRequest{Mode: core.ModeWarm, Extension: strings.Repeat("1", 33)}, "extension"},
		{core.TransferRequest{Mode: core.ModeWarm, RequireAccept: &yes, AcceptTimeoutSeconds: 2}, "accept_timeout_seconds"},
		{core.TransferRequest{Mode: core.ModeWarm, RequireAccept: &yes, AcceptTimeoutSeconds: 61}, "accept_timeout_seconds"},
		{core.TransferRequest{Mode: core.ModeWarm, HumanSpeechTimeoutSeconds: 31}, "human_speech_timeout_seconds"},
		{core.TransferRequest{Mode: core.ModeWarm, AcceptPrompt: strings.Repeat("a", 501)}, "accept_prompt"},
		{core.TransferRequest{Mode: core.ModeWarm, AcceptPrompt: "  "}, "accept_prompt"},
		{core.TransferRequest{Mode: core.ModeBlind, RequireAccept: &yes}, "require_accept"},
		{core.TransferRequest{Mode: core.ModeBlind, WaitForHumanSpeech: &yes}, "wait_for_human_speech"},
		{core.TransferRequest{Mode: core.ModeBlind, Extension: "204"}, "extension"},
		// The destination is blind by default: known only once planned.
		{core.TransferRequest{RequireAccept: &yes}, "require_accept"},
		{core.TransferRequest{Extension: "204#"}, "extension"},
	} {
		c.req.CallID, c.req.Destination = f.callID, "+31612345678"
		_, err := f.calls.Transfer(t.Context(), c.req, nil)
		if e := core.AsError(err); e == nil || e.Code != core.CodeInvalidRequest || e.Param != c.param {
			t.Errorf("%+v: %v (param %v)", c.req, err, e)
		}
	}
	// false is no request at all; nothing above reached the call.
	f.sip.refer = func(context.Context, string, string) (int, error) { return 603, nil }
	if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeBlind, RequireAccept: &no, WaitForHumanSpeech: &no}, nil); !core.HasCode(err, core.CodeTransferFailed) {
		t.Errorf("blind with require_accept false: %v", err)
	}
}

func TestConsultSavedAndChecked(t *testing.T) {
	ctx := t.Context()
	svc := core.NewConfiguration(openStore(t), slog.New(slog.DiscardHandler))
	svc.SetPolicy(mustPolicy(t, core.PolicyConfig{}))
	with := func(d core.Destination) core.AssistantConfig {
		d.Type, d.Number, d.Description = "number", "+31612345678", "sales"
		return core.AssistantConfig{Name: "A", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{Type: core.ToolTransferCall, Destinations: []core.Destination{d}}}}}
	}
	const p = "llm_config.tools[0].destinations[0]."
	for _, c := range []struct {
		d     core.Destination
		param string
	}{
		{core.Destination{RequireAccept: true}, p + "require_accept"},
		{core.Destination{Mode: core.ModeBlind, WaitForHumanSpeech: true}, p + "wait_for_human_speech"},
		{core.Destination{Extension: "204"}, p + "extension"},
		{core.Destination{Mode: core.ModeWarm, Extension: "2 04"}, p + "extension"},
		{core.Destination{Mode: core.ModeBridge, RequireAccept: true, AcceptTimeoutSeconds: 100}, p + "accept_timeout_seconds"},
		{core.Destination{Mode: core.ModeBridge, WaitForHumanSpeech: true, HumanSpeechTimeoutSeconds: -1}, p + "human_speech_timeout_seconds"},
	} {
		_, err := svc.CreateAssistant(ctx, with(c.d))
		if e := core.AsError(err); e == nil || e.Code != core.CodeInvalidRequest || e.Param != c.param {
			t.Errorf("%+v: %v", c.d, err)
		}
	}
	a, err := svc.CreateAssistant(ctx, with(core.Destination{Mode: core.ModeWarm, Extension: "204w#", WaitForHumanSpeech: true, RequireAccept: true, AcceptTimeoutSeconds: 8}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := svc.CheckDestination(ctx, "+31612345678", a.ID)
	if err != nil || c.Consult == nil {
		t.Fatalf("check = %+v, %v", c, err)
	}
	got := c.Consult
	if c.Transfer == nil || c.Transfer.Mode != core.ModeWarm || got.Extension != "204w#" || !got.WaitForHumanSpeech || got.HumanSpeechTimeoutSeconds != 5 ||
		!got.RequireAccept || got.AcceptPrompt != core.DefaultAcceptPrompt || got.AcceptTimeoutSeconds != 8 || len(got.Steps) != 6 {
		t.Errorf("consult %+v", got)
	}
	if c, _ := svc.CheckDestination(ctx, "+31612345678", ""); c.Consult != nil {
		t.Errorf("without an assistant: %+v", c.Consult)
	}
}
