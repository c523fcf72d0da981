package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
)

// GetTranscriptInput names a call and a page of its lines.
type GetTranscriptInput struct {
	CallID string `json:"call_id" jsonschema:"required,description=The call's id,minLength=1,maxLength=128"`
	ListInput
}

// TranscriptOutput is a page of a call's conversation.
type TranscriptOutput struct {
	CallID string `json:"call_id" jsonschema:"required"`
	core.Transcript
}

// WaitForCallerInput asks for the caller's next utterance or key.
type WaitForCallerInput struct {
	CallID         string `json:"call_id" jsonschema:"required,description=The live call to listen to,minLength=1,maxLength=128"`
	TimeoutSeconds int    `json:"timeout_seconds,omitempty" jsonschema:"description=How long to wait (default 30),minimum=1,maximum=300"`
	After          string `json:"after,omitempty" jsonschema:"description=The id of the last line or digit you have seen: anything the caller said or pressed since is returned at once\\, so nothing is missed between two waits,maxLength=64"`
}

// WaitForCallerOutput is what was heard.
type WaitForCallerOutput struct {
	core.Heard
}

func conversationTools(calls *core.Calls) []Tool {
	return []Tool{
		define("get_transcript", "Get transcript",
			"Get a page of a call's conversation, oldest first: what the caller said (role user, from speech-to-text) and what the server said (role assistant), each with its start and end time, and the DTMF keys the caller pressed.",
			Hints{ReadOnly: true, Idempotent: true},
			func(ctx context.Context, in GetTranscriptInput) (TranscriptOutput, string, error) {
				t, err := calls.GetTranscript(ctx, in.CallID, in.page())
				if err != nil {
					return TranscriptOutput{}, "", err
				}
				var b strings.Builder
				fmt.Fprintf(&b, "Call %s: %d of %d lines, %d keys pressed.", in.CallID, len(t.Lines), t.Total, len(t.Digits))
				for _, l := range t.Lines {
					fmt.Fprintf(&b, "\n%s: %s", l.Role, l.Content)
				}
				return TranscriptOutput{CallID: in.CallID, Transcript: t}, b.String(), nil
			}),
		define("wait_for_caller", "Wait for caller",
			"Wait until the caller of a live call says something (one utterance, as text) or presses a key, the call ends, or the timeout passes. "+
				"Hold a conversation with it: wait_for_caller, say_call, wait_for_caller, ... transfer_call. Pass the id of the last line or digit you saw as after so nothing said in between is missed.",
			Hints{ReadOnly: true, LiveCall: true},
			func(ctx context.Context, in WaitForCallerInput) (WaitForCallerOutput, string, error) {
				h, err := calls.WaitForCaller(ctx, core.ListenRequest{
					CallID: in.CallID, Timeout: time.Duration(in.TimeoutSeconds) * time.Second, After: in.After,
				})
				if err != nil {
					return WaitForCallerOutput{}, "", err
				}
				return WaitForCallerOutput{h}, describeHeard(h), nil
			}),
	}
}

func describeHeard(h core.Heard) string {
	switch {
	case h.Line != nil:
		return fmt.Sprintf("The caller said (line %s): %s", h.Line.ID, h.Line.Content)
	case h.Digit != nil:
		return fmt.Sprintf("The caller pressed %s (digit %s, by %s).", h.Digit.Digit, h.Digit.ID, h.Digit.Source)
	case h.TimedOut:
		return fmt.Sprintf("Nothing heard before the deadline; call %s is %s.", h.Call.ID, h.Call.Status)
	}
	return fmt.Sprintf("Call %s is %s: the caller is gone.", h.Call.ID, h.Call.Status)
}
