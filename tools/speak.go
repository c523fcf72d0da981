package tools

import (
	"context"
	"fmt"

	"github.com/voicedock/voicedock/core"
)

// EndCallInput names the call to hang up and, optionally, a last message.
type EndCallInput struct {
	CallID  string `json:"call_id" jsonschema:"required,description=The call's id (from list_calls),minLength=1,maxLength=128"`
	Message string `json:"message,omitempty" jsonschema:"description=Said to the caller before hanging up; if it cannot be played the call is left up and the error says why,maxLength=1000"`
}

// SayCallInput is something to say on a live call.
type SayCallInput struct {
	CallID   string `json:"call_id" jsonschema:"required,description=The live call to speak to,minLength=1,maxLength=128"`
	Message  string `json:"message" jsonschema:"required,description=What to say (synthesised with the call's assistant's tts_config),minLength=1,maxLength=1000"`
	EndAfter bool   `json:"end_after,omitempty" jsonschema:"description=Hang up once the message has been played"`
}

// ControlCommand is one VoiceDock Call Control command.
type ControlCommand struct {
	Type            string `json:"type" jsonschema:"required,description=The command; take-over and hand-back stop and restart the call's language model,enum=transfer,enum=say,enum=end-call,enum=inject-context,enum=take-over,enum=hand-back"`
	Destination     string `json:"destination,omitempty" jsonschema:"description=transfer: an E.164 number or a sip:/sips: URI,maxLength=256"`
	Message         string `json:"message,omitempty" jsonschema:"description=transfer: said before the transfer; end-call: said before hanging up,maxLength=1000"`
	VoicemailAction string `json:"voicemail_action,omitempty" jsonschema:"description=transfer: when a voicemail box answers a warm or bridge destination: none\\, stop or leave_message (as transfer_call's),enum=none,enum=stop,enum=leave_message"`
	Content         string `json:"content,omitempty" jsonschema:"description=say: the text to speak; inject-context: context added to the model's conversation,maxLength=1000"`
	EndAfter        *bool  `json:"end_after,omitempty" jsonschema:"description=say: hang up after speaking (required by VoiceDock)"`
	TriggerResponse *bool  `json:"trigger_response,omitempty" jsonschema:"description=inject-context: true makes the model answer at once (required by VoiceDock)"`
	// transfer: caller id, hold audio, ring timeout and on_failure, over
	// the destination's own.
	core.TransferRouting

	// transfer: what the server does on its own call to the human
	// (warm, bridge), as transfer_call takes it.
	Extension                 string `json:"extension,omitempty" jsonschema:"description=transfer (to a warm or bridge destination): digits sent as RFC 4733 DTMF once the destination answers (0-9\\, *\\, #\\, w = a half-second pause); refused for a blind transfer\\, whose REFER cannot carry them; overrides the destination's,pattern=^[0-9*#w]{1\\,32}$"`
	WaitForHumanSpeech        *bool  `json:"wait_for_human_speech,omitempty" jsonschema:"description=transfer (to a warm or bridge destination): wait for the human to speak (voice activity on the server's call to them) before the summary is played; played anyway after human_speech_timeout_seconds; overrides the destination's"`
	HumanSpeechTimeoutSeconds int    `json:"human_speech_timeout_seconds,omitempty" jsonschema:"description=transfer: with wait_for_human_speech: the longest wait for the human's voice (default 5),minimum=1,maximum=30"`
	RequireAccept             *bool  `json:"require_accept,omitempty" jsonschema:"description=transfer (to a warm or bridge destination): after the summary the human hears accept_prompt and the caller is put through only on the key 1 (RFC 4733 or SIP INFO); another key\\, no key in time or a hang-up declines and the next destination is tried (or the caller stays with the assistant and hears the fallback message); overrides the destination's"`
	AcceptPrompt              string `json:"accept_prompt,omitempty" jsonschema:"description=transfer: with require_accept: what the human hears after the summary (default: Press 1 to accept the call.),maxLength=500"`
	AcceptTimeoutSeconds      int    `json:"accept_timeout_seconds,omitempty" jsonschema:"description=transfer: with require_accept: seconds the human has to press a key once the prompt has played (default 10),minimum=3,maximum=60"`
}

// ControlCallInput is a Call Control command for a live call.
type ControlCallInput struct {
	CallID  string         `json:"call_id" jsonschema:"required,description=The live call,minLength=1,maxLength=128"`
	Command ControlCommand `json:"command" jsonschema:"required,description=The command as VoiceDock's POST /calls/{id}/control takes it"`
}

// ControlCallOutput is VoiceDock's answer plus what the command did.
type ControlCallOutput struct {
	Success  bool           `json:"success" jsonschema:"required"`
	Message  string         `json:"message" jsonschema:"required"`
	Call     *core.Call     `json:"call,omitempty" jsonschema:"description=The call after the command"`
	Transfer *core.Transfer `json:"transfer,omitempty" jsonschema:"description=transfer: its outcome"`
}

func speakTools(calls *core.Calls, conv *core.Conversations) []Tool {
	return []Tool{
		define("say_call", "Say on call",
			"Speak a message to a live call's caller (text-to-speech with the assistant's voice) and return once it has been played to the end; with end_after, hang up after it.",
			Hints{OpenWorld: true, LiveCall: true},
			func(ctx context.Context, in SayCallInput) (CallOutput, string, error) {
				c, err := calls.Say(ctx, core.SayRequest{CallID: in.CallID, Message: in.Message, EndAfter: in.EndAfter})
				if err != nil {
					return CallOutput{}, "", err
				}
				return CallOutput{c}, fmt.Sprintf("Said the message on call %s; it is %s.", c.ID, c.Status), nil
			}),
		define("control_call", "Control call",
			"Run a VoiceDock Call Control command on a live call: transfer {destination, message?, voicemail_action?}, say {content, end_after}, end-call {message?}, "+
				"and for a call whose assistant's language model holds the conversation (VOICEDOCK_LLM_URL set, llm_config on the assistant): "+
				"inject-context {content, trigger_response} adds context to the model's conversation (answering at once with trigger_response), "+
				"take-over stops the model for the call so that only you speak, transfer or hang up, hand-back lets it answer the caller's next line again.",
			Hints{Destructive: true, OpenWorld: true, LiveCall: true},
			func(ctx context.Context, in ControlCallInput) (ControlCallOutput, string, error) {
				return control(ctx, calls, conv, in)
			}),
	}
}

func control(ctx context.Context, calls *core.Calls, conv *core.Conversations, in ControlCallInput) (ControlCallOutput, string, error) {
	cmd := in.Command
	ok := ControlCallOutput{Success: true, Message: "Command sent successfully"}
	switch cmd.Type {
	case "say":
		if cmd.EndAfter == nil {
			return ControlCallOutput{}, "", core.FieldError(core.CodeMissingField, "command.end_after", "end_after is required for say")
		}
		c, err := calls.Say(ctx, core.SayRequest{CallID: in.CallID, Message: cmd.Content, EndAfter: *cmd.EndAfter})
		if err != nil {
			return ControlCallOutput{}, "", paramPrefix(err, "message", "command.content")
		}
		ok.Call = &c
		return ok, fmt.Sprintf("Said the message on call %s; it is %s.", c.ID, c.Status), nil
	case "end-call":
		c, err := calls.EndCallSaying(ctx, in.CallID, cmd.Message)
		if err != nil {
			return ControlCallOutput{}, "", paramPrefix(err, "message", "command.message")
		}
		ok.Call = &c
		return ok, fmt.Sprintf("Call %s ended.", c.ID), nil
	case "transfer":
		progress := progressFrom(ctx)
		requestedBy := ""
		if a, found := core.ActorFrom(ctx); found {
			requestedBy = a.Name
		}
		confirm := confirmFrom(ctx)
		t, err := calls.Transfer(ctx, core.TransferRequest{
			CallID: in.CallID, Destination: cmd.Destination, Message: cmd.Message, RequestedBy: requestedBy,
			Routing:   cmd.TransferRouting,
			Extension: cmd.Extension, WaitForHumanSpeech: cmd.WaitForHumanSpeech, HumanSpeechTimeoutSeconds: cmd.HumanSpeechTimeoutSeconds,
			RequireAccept: cmd.RequireAccept, AcceptPrompt: cmd.AcceptPrompt, AcceptTimeoutSeconds: cmd.AcceptTimeoutSeconds,
			VoicemailAction: cmd.VoicemailAction,
			Confirm:         confirm.Ask, ConfirmVia: confirm.Via,
		}, func(step core.Transfer) {
			progress(transferProgress(step.Status), 5, describeStep(step))
		})
		if err != nil {
			return ControlCallOutput{}, "", commandParam(err)
		}
		ok.Transfer = &t
		return ok, "Transfer: " + describeStep(t) + ".", nil
	case "inject-context", "take-over", "hand-back":
		return modelControl(ctx, calls, conv, in)
	case "":
		return ControlCallOutput{}, "", core.FieldError(core.CodeMissingField, "command.type", "command type is required")
	}
	return ControlCallOutput{}, "", core.FieldError(core.CodeInvalidRequest, "command.type", "unknown command %q: transfer, say, end-call, inject-context, take-over or hand-back", clipText(cmd.Type))
}

// modelControl runs the commands about the call's language model.
func modelControl(ctx context.Context, calls *core.Calls, conv *core.Conversations, in ControlCallInput) (ControlCallOutput, string, error) {
	cmd := in.Command
	if conv == nil {
		return ControlCallOutput{}, "", core.FieldError(core.CodeUnsupported, "command.type", "%s is not supported: no language model runs in this server (VOICEDOCK_LLM_URL is not set)", cmd.Type)
	}
	var err error
	var text string
	switch cmd.Type {
	case "inject-context":
		if cmd.TriggerResponse == nil {
			return ControlCallOutput{}, "", core.FieldError(core.CodeMissingField, "command.trigger_response", "trigger_response is required for inject-context")
		}
		err = conv.InjectContext(ctx, in.CallID, cmd.Content, *cmd.TriggerResponse)
		err = paramPrefix(paramPrefix(err, "content", "command.content"), "trigger_response", "command.trigger_response")
		text = "Context added to the conversation of call %s."
		if *cmd.TriggerResponse {
			text = "Context added to the conversation of call %s; the model answers."
		}
	case "take-over":
		err = conv.TakeOver(ctx, in.CallID)
		text = "The model is stopped for call %s: only you speak, transfer or hang up until hand-back."
	case "hand-back":
		err = conv.HandBack(ctx, in.CallID)
		text = "The model answers the caller of call %s again from their next line."
	}
	if err != nil {
		return ControlCallOutput{}, "", err
	}
	c, err := calls.GetCall(ctx, in.CallID)
	if err != nil {
		return ControlCallOutput{}, "", err
	}
	return ControlCallOutput{Success: true, Message: "Command sent successfully", Call: &c}, fmt.Sprintf(text, c.ID), nil
}

// paramPrefix renames an error's param to the command's field.
func paramPrefix(err error, from, to string) error {
	if e := core.AsError(err); e != nil && e.Param == from {
		c := *e
		c.Param = to
		return &c
	}
	return err
}

func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// commandParam names a transfer command's refused field as the command
// holds it (command.destination, command.require_accept, ...).
func commandParam(err error) error {
	for _, p := range []string{"destination", "message", "mode", "extension", "wait_for_human_speech", "human_speech_timeout_seconds", "require_accept", "accept_prompt", "accept_timeout_seconds", "voicemail_action",
		"caller_id", "hold_audio_url", "ring_timeout_seconds", "dial_timeout", "on_failure", "on_failure_message"} {
		err = paramPrefix(err, p, "command."+p)
	}
	return err
}
