package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// cannedSTT stands in for a speech-to-text engine (the real ones are
// tested in speech and end to end): it answers each utterance with the
// next text, and records the language asked for.
type cannedSTT struct {
	texts    chan string
	language chan string
}

func (c *cannedSTT) Transcribe(ctx context.Context, pcm []int16, language string) (string, error) {
	c.language <- language
	select {
	case s := <-c.texts:
		if s == "!" {
			return "", errors.New("engine broke")
		}
		return s, nil
	default:
		return "", nil
	}
}

func newHearingFixture(t *testing.T) (*fixture, *cannedSTT) {
	t.Helper()
	f := newFixture(t, core.CallsConfig{DefaultWebhookURL: "http://127.0.0.1:9/hook"})
	stt := &cannedSTT{texts: make(chan string, 10), language: make(chan string, 10)}
	f.calls.SetConversation(f.store, stt)
	return f, stt
}

func (f *fixture) speak(t *testing.T, stt *cannedSTT, text string) {
	t.Helper()
	stt.texts <- text
	now := time.Now()
	f.calls.CallerSpoke(t.Context(), f.callID, make([]int16, 8000), now.Add(-time.Second), now)
}

// A caller's utterance is stored, with its webhook, before the event
// announcing it is published; what the engine hears as nothing, or fails
// on, is not recorded.
func TestUtteranceStoredBeforePublished(t *testing.T) {
	f, stt := newHearingFixture(t)
	sub := f.calls.Bus().SubscribeCall(f.callID, func(e core.Event) bool { return e.Type == core.EventTranscript })
	defer sub.Close()

	f.speak(t, stt, "")
	f.speak(t, stt, "!")
	f.speak(t, stt, "  I want to talk to a human ")
	select {
	case e := <-sub.C:
		if e.Line == nil || e.Line.Role != core.RoleUser || e.Line.Content != "I want to talk to a human" || e.Call.ID != f.callID {
			t.Fatalf("event %+v", e)
		}
		lines, total, err := f.store.ListTranscript(t.Context(), f.callID, core.Page{Limit: 10})
		if err != nil || total != 1 || len(lines) != 1 || lines[0].ID != e.Line.ID {
			t.Fatalf("stored when announced: %v %d %+v", err, total, lines)
		}
		if !lines[0].StartedAt.Before(lines[0].EndedAt) {
			t.Errorf("times %s to %s", lines[0].StartedAt, lines[0].EndedAt)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no transcript event")
	}
	ds, _, err := f.store.ListDeliveries(t.Context(), core.DeliveryFilter{CallID: f.callID, Page: core.Page{Limit: 50}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range ds {
		d, _ = f.store.GetDelivery(t.Context(), d.ID)
		if d.EventType == core.WebhookConversationUpdate {
			n++
			if !strings.Contains(string(d.Body), `"messages":[{"role":"user","content":"I want to talk to a human"}]`) {
				t.Errorf("conversation-update body: %s", d.Body)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d conversation-update deliveries, want 1", n)
	}
	if lang := <-stt.language; lang != "" {
		t.Errorf("language %q without stt_config", lang)
	}
}

// The server's own lines (say_call, end_call's goodbye) join the caller's
// in get_call's messages and in the end-of-call report; keys pressed are
// stored with their webhook.
func TestConversationInReportAndGetCall(t *testing.T) {
	f, stt := newHearingFixture(t)
	var log []string
	f.calls.SetMedia(&recordingMedia{log: &log})
	ctx := t.Context()
	if _, err := f.calls.Say(ctx, core.SayRequest{CallID: f.callID, Message: "How can I help?"}); err != nil {
		t.Fatal(err)
	}
	f.speak(t, stt, "billing please")
	f.calls.DigitPressed(ctx, f.callID, "5", core.DigitRFC4733)
	f.calls.DigitPressed(ctx, f.callID, "x", core.DigitSIPInfo) // not a key: ignored
	c, err := f.calls.GetCall(ctx, f.callID)
	if err != nil {
		t.Fatal(err)
	}
	want := []core.Message{{Role: "assistant", Content: "How can I help?"}, {Role: "user", Content: "billing please"}}
	if len(c.Messages) != 2 || c.Messages[0] != want[0] || c.Messages[1] != want[1] {
		t.Fatalf("get_call messages %+v", c.Messages)
	}
	if _, err := f.calls.EndCallSaying(ctx, f.callID, "Goodbye."); err != nil {
		t.Fatal(err)
	}
	want = append(want, core.Message{Role: "assistant", Content: "Goodbye."})
	// Ended, the call's messages come from the store.
	c, err = f.calls.GetCall(ctx, f.callID)
	if err != nil || len(c.Messages) != 3 || c.Messages[2] != want[2] {
		t.Fatalf("ended call's messages %+v %v", c.Messages, err)
	}
	tr, err := f.calls.GetTranscript(ctx, f.callID, core.Page{Limit: 2, Offset: 1})
	if err != nil || tr.Total != 3 || len(tr.Lines) != 2 || tr.Lines[0].Content != "billing please" || len(tr.Digits) != 1 || tr.Digits[0].Digit != "5" {
		t.Fatalf("transcript page: %+v %v", tr, err)
	}
	ds, _, err := f.store.ListDeliveries(ctx, core.DeliveryFilter{CallID: f.callID, Page: core.Page{Limit: 50}})
	if err != nil {
		t.Fatal(err)
	}
	var report, dtmf int
	for _, d := range ds {
		d, _ = f.store.GetDelivery(ctx, d.ID)
		switch d.EventType {
		case core.WebhookEndOfCallReport:
			report++
			var body struct {
				Message struct {
					Messages []core.Message `json:"messages"`
				} `json:"message"`
			}
			if err := json.Unmarshal(d.Body, &body); err != nil || len(body.Message.Messages) != 3 || body.Message.Messages[2] != want[2] {
				t.Errorf("end-of-call-report messages: %s", d.Body)
			}
		case core.WebhookDTMF:
			dtmf++
			if !strings.Contains(string(d.Body), `"digit":"5"`) {
				t.Errorf("dtmf body %s", d.Body)
			}
		}
	}
	if report != 1 || dtmf != 1 {
		t.Errorf("%d reports, %d dtmf deliveries", report, dtmf)
	}
}

// WaitForCaller returns the next utterance or key, what came after the
// client's cursor at once, a timeout, or the call's end; the assistant's
// lines are not the caller's.
func TestWaitForCaller(t *testing.T) {
	f, stt := newHearingFixture(t)
	var log []string
	f.calls.SetMedia(&recordingMedia{log: &log})
	ctx := t.Context()

	h, err := f.calls.WaitForCaller(ctx, core.ListenRequest{CallID: f.callID, Timeout: 50 * time.Millisecond})
	if err != nil || !h.TimedOut || h.Line != nil || h.Call.Status != core.CallInProgress {
		t.Fatalf("silence: %+v %v", h, err)
	}
	got := make(chan core.Heard, 1)
	go func() {
		h, err := f.calls.WaitForCaller(ctx, core.ListenRequest{CallID: f.callID, Timeout: 10 * time.Second})
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	// Wait until the waiter listens: its subscription is on the bus.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := f.calls.Say(ctx, core.SayRequest{CallID: f.callID, Message: "Hello?"}); err != nil {
			t.Fatal(err)
		}
		select {
		case h := <-got:
			t.Fatalf("the server's own line was heard as the caller's: %+v", h)
		default:
		}
		f.calls.DigitPressed(ctx, f.callID, "#", core.DigitSIPInfo)
		select {
		case h := <-got:
			if h.Digit == nil || h.Digit.Digit != "#" || h.Digit.Source != core.DigitSIPInfo {
				t.Fatalf("heard %+v", h)
			}
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the waiter heard nothing")
			}
			continue
		}
		break
	}
	tr, _ := f.calls.GetTranscript(ctx, f.callID, core.Page{})
	last := tr.Digits[len(tr.Digits)-1].ID
	f.speak(t, stt, "one")
	f.speak(t, stt, "two")
	h, err = f.calls.WaitForCaller(ctx, core.ListenRequest{CallID: f.callID, After: last, Timeout: time.Second})
	if err != nil || h.Line == nil || h.Line.Content != "one" {
		t.Fatalf("after the cursor: %+v %v", h, err)
	}
	h, err = f.calls.WaitForCaller(ctx, core.ListenRequest{CallID: f.callID, After: h.Line.ID, Timeout: time.Second})
	if err != nil || h.Line == nil || h.Line.Content != "two" {
		t.Fatalf("after the first: %+v %v", h, err)
	}

	go func() {
		time.Sleep(50 * time.Millisecond)
		f.calls.CallEnded(context.Background(), f.callID, core.EndCallerHangup)
	}()
	h, err = f.calls.WaitForCaller(ctx, core.ListenRequest{CallID: f.callID, Timeout: 10 * time.Second})
	if err != nil || h.TimedOut || h.Call.Live() {
		t.Fatalf("hang-up: %+v %v", h, err)
	}
	if _, err := f.calls.WaitForCaller(ctx, core.ListenRequest{CallID: f.callID}); !core.HasCode(err, core.CodeCallNotActive) {
		t.Fatalf("ended call: %v", err)
	}
	if _, err := f.calls.WaitForCaller(ctx, core.ListenRequest{CallID: f.callID, Timeout: time.Hour}); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Fatalf("an hour: %v", err)
	}
}
