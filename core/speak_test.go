package core_test

import (
	"context"
	"sync"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// recordingMedia stands in for the RTP engine (tested for real in media
// and end to end): it records what was said, in order with the REFERs the
// scripted SIP side records, and answers sayErr.
type recordingMedia struct {
	mu     sync.Mutex
	log    *[]string
	sayErr error
	// onSay runs as the message plays (the caller hanging up).
	onSay func()
}

func (r *recordingMedia) Say(ctx context.Context, callID string, u core.Utterance) error {
	r.mu.Lock()
	*r.log = append(*r.log, "say:"+u.Text+u.AudioURL)
	r.mu.Unlock()
	if r.onSay != nil {
		r.onSay()
	}
	return r.sayErr
}

func (r *recordingMedia) Hold(ctx context.Context, callID, _ string) (func(), error) {
	return func() {}, nil
}

func (r *recordingMedia) Bridge(ctx context.Context, a, b string) (core.BridgeStats, error) {
	return core.BridgeStats{}, nil
}

func TestSpeakingWithoutMediaIsUnsupported(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	if _, err := f.calls.Say(t.Context(), core.SayRequest{CallID: f.callID, Message: "hi"}); !core.HasCode(err, core.CodeUnsupported) {
		t.Fatalf("say without media: %v", err)
	}
	if _, err := f.calls.EndCallSaying(t.Context(), f.callID, "bye"); !core.HasCode(err, core.CodeUnsupported) {
		t.Fatalf("end_call with a message without media: %v", err)
	}
	if c, _ := f.calls.GetCall(t.Context(), f.callID); c.Status != core.CallInProgress {
		t.Fatalf("a goodbye that could not be said hung up: %s", c.Status)
	}
	if c, err := f.calls.EndCallSaying(t.Context(), f.callID, ""); err != nil || c.Status != core.CallEnded {
		t.Fatalf("end_call: %v %s", err, c.Status)
	}
}

// The transfer's message is said before the REFER; when the caller is gone
// by the end of it, no REFER goes; when it cannot be said, the transfer
// goes ahead.
func TestTransferMessageBeforeRefer(t *testing.T) {
	for _, tt := range []struct {
		name   string
		sayErr error
		want   []string
	}{
		{"played", nil, []string{"say:Connecting you to sales.", "refer"}},
		{"unavailable", &core.Error{Code: core.CodeUnavailable, Message: "no espeak"}, []string{"say:Connecting you to sales.", "refer"}},
		{"caller gone", &core.Error{Code: core.CodeCallNotActive, Message: "ended"}, []string{"say:Connecting you to sales."}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, core.CallsConfig{})
			var log []string
			m := &recordingMedia{log: &log, sayErr: tt.sayErr}
			f.calls.SetMedia(m)
			f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
				m.mu.Lock()
				log = append(log, "refer")
				m.mu.Unlock()
				go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
				return 202, nil
			}
			gone := core.HasCode(tt.sayErr, core.CodeCallNotActive)
			if gone {
				// The SIP side reports the caller's BYE while the message plays.
				m.onSay = func() { f.calls.CallEnded(context.Background(), f.callID, core.EndCallerHangup) }
			}
			tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
			if gone {
				if tr.Status != core.TransferCanceled {
					t.Fatalf("transfer: %s %v", tr.Status, err)
				}
				// Waits for the end of the call to be recorded (under the call's lock).
				if c, _ := f.calls.GetCall(t.Context(), f.callID); c.Status != core.CallEnded {
					t.Fatalf("call %s", c.Status)
				}
			} else if err != nil || tr.Status != core.TransferCompleted {
				t.Fatalf("transfer: %s %v", tr.Status, err)
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if len(log) != len(tt.want) {
				t.Fatalf("order %v, want %v", log, tt.want)
			}
			for i := range log {
				if log[i] != tt.want[i] {
					t.Fatalf("order %v, want %v", log, tt.want)
				}
			}
		})
	}
}
