package core_test

import (
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// A caller asked for recording consent is not transcribed until they
// press 1, then hears the first message; 2, or no key after the message
// was said twice, ends the call.
func TestRecordingConsent(t *testing.T) {
	for _, tt := range []struct {
		name, key string
		says      []string
		agreed    bool
	}{
		{"agree", "1", []string{"say:Press 1.", "say:Hello."}, true},
		{"decline", "2", []string{"say:Press 1."}, false},
		{"silence", "", []string{"say:Press 1.", "say:Press 1."}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			f := newFixture(t, core.CallsConfig{ConsentTimeout: 300 * time.Millisecond})
			stt := &cannedSTT{texts: make(chan string, 10), language: make(chan string, 10)}
			f.calls.SetConversation(f.store, stt)
			var log []string
			said := make(chan struct{}, 10)
			f.calls.SetMedia(&recordingMedia{log: &log, onSay: func() { said <- struct{}{} }})
			as, _, err := f.svc.ListAssistants(ctx, core.Page{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.UpdateAssistant(ctx, as[0].ID, []byte(`{"first_message":"Hello.","recording_consent":{"enabled":true,"message":"Press 1."}}`)); err != nil {
				t.Fatal(err)
			}
			f = newFixtureOn(t, f)
			ended := f.calls.Bus().SubscribeCall(f.callID, func(e core.Event) bool { return e.Type == core.EventCallStatus && !e.Call.Live() })
			defer ended.Close()
			wait := func(ch <-chan struct{}, what string) {
				t.Helper()
				select {
				case <-ch:
				case <-time.After(5 * time.Second):
					t.Fatalf("no %s", what)
				}
			}
			wait(said, "consent message")

			// Before consent, speech is not transcribed.
			f.speak(t, stt, "secret words")
			if _, n, _ := f.store.ListTranscript(ctx, f.callID, core.Page{Limit: 10}); n != 0 {
				t.Fatalf("%d lines before consent", n)
			}
			<-stt.texts // not asked: take the canned answer back
			// The first message's line is stored after it is said: the
			// caller speaks once it is, so that the transcript's order is
			// the test's, not a race with that write.
			firstLine := f.calls.Bus().SubscribeCall(f.callID, func(e core.Event) bool {
				return e.Type == core.EventTranscript && e.Line != nil && e.Line.Role == core.RoleAssistant
			})
			defer firstLine.Close()
			if tt.key != "" {
				f.calls.DigitPressed(ctx, f.callID, tt.key, core.DigitRFC4733)
			}
			if tt.agreed {
				wait(said, "first message")
				select {
				case <-firstLine.C:
				case <-time.After(5 * time.Second):
					t.Fatal("the first message was not stored")
				}
				f.speak(t, stt, "I want a human")
				tr, err := f.calls.GetTranscript(ctx, f.callID, core.Page{})
				if err != nil || tr.Total != 2 || tr.Lines[0].Content != "Hello." || tr.Lines[1].Content != "I want a human" {
					t.Fatalf("after consent: %+v %v", tr, err)
				}
			} else {
				select {
				case e := <-ended.C:
					if e.Call.Live() {
						t.Fatalf("call %s", e.Call.Status)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the call was not ended")
				}
			}
			if len(log) != len(tt.says) {
				t.Fatalf("said %v, want %v", log, tt.says)
			}
			for i := range log {
				if log[i] != tt.says[i] {
					t.Fatalf("said %v, want %v", log, tt.says)
				}
			}
		})
	}
}
