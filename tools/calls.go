package tools

import (
	"context"
	"fmt"

	"github.com/voicedock/voicedock/core"
)

// CallOutput wraps one call with its transfers.
type CallOutput struct {
	Call core.Call `json:"call" jsonschema:"required"`
}

// CallListOutput is a page of calls.
type CallListOutput struct {
	Calls      []core.Call `json:"calls" jsonschema:"required"`
	Pagination Pagination  `json:"pagination" jsonschema:"required"`
}

// ListCallsInput filters and pages calls.
type ListCallsInput struct {
	Status string `json:"status,omitempty" jsonschema:"description=Only calls with this status,enum=dialing,enum=ringing,enum=in-progress,enum=transferred,enum=ended,enum=failed,enum=rejected"`
	ListInput
}

// CallIDInput names a call.
type CallIDInput struct {
	CallID string `json:"call_id" jsonschema:"required,description=The call's id (from list_calls),minLength=1,maxLength=128"`
}

// TransferCallInput asks for a live call to be transferred.
type TransferCallInput struct {
	CallID      string `json:"call_id" jsonschema:"required,description=The live call to transfer,minLength=1,maxLength=128"`
	Destination string `json:"destination" jsonschema:"required,description=E.164 number (+31612345678) or sip:/sips: URI; one of the assistant's transfer_call destinations unless ad-hoc transfers are on or the user confirms it when asked (MCP elicitation),minLength=3,maxLength=256"`
	Message     string `json:"message,omitempty" jsonschema:"description=Said to the caller before the transfer (defaults to the destination's configured message),maxLength=1000"`

	// How the caller is moved, and where to when the destination fails:
	// what an assistant's destination may carry, which these override.
	FallbackDestinations []string          `json:"fallback_destinations,omitempty" jsonschema:"description=Destinations tried in order when destination fails (busy\\, no answer\\, refused\\, timed out); each passes the same policy before the first is tried,maxItems=5"`
	Mode                 string            `json:"mode,omitempty" jsonschema:"description=blind (SIP REFER\\, the default)\\, warm (the server calls the human first with the caller on hold\\, tells them the summary\\, then joins them with REFER and Replaces) or bridge (the server calls the human and relays the audio: trunks without REFER); overrides the destinations' own mode,enum=blind,enum=warm,enum=bridge"`
	Summary              string            `json:"summary,omitempty" jsonschema:"description=Who is calling and why: told to the human on a warm transfer and sent as X-Transfer-Summary,maxLength=500"`
	SIPHeaders           map[string]string `json:"sip_headers,omitempty" jsonschema:"description=Headers sent to the destination (X-... and User-to-User only\\, at most 10): in the REFER's Refer-To or on the server's INVITE; added to the destination's own"`
	FallbackMessage      string            `json:"fallback_message,omitempty" jsonschema:"description=Said to the caller when a warm or bridge transfer found nobody\\, before the assistant carries on,maxLength=1000"`
	// Caller id, hold audio, ring timeout and on_failure, over every
	// destination's own.
	core.TransferRouting

	// What the server does on its own call to the human before the
	// caller is put through (warm, bridge).
	Extension                 string `json:"extension,omitempty" jsonschema:"description=Warm and bridge: digits sent as RFC 4733 DTMF once the destination answers (0-9\\, *\\, #\\, w = a half-second pause); refused for a blind transfer\\, whose REFER cannot carry them; overrides the destination's,pattern=^[0-9*#w]{1\\,32}$"`
	WaitForHumanSpeech        *bool  `json:"wait_for_human_speech,omitempty" jsonschema:"description=Warm and bridge: wait for the human to speak (voice activity on the server's call to them) before the summary is played; played anyway after human_speech_timeout_seconds; overrides the destination's"`
	HumanSpeechTimeoutSeconds int    `json:"human_speech_timeout_seconds,omitempty" jsonschema:"description=With wait_for_human_speech: the longest wait for the human's voice (default 5),minimum=1,maximum=30"`
	RequireAccept             *bool  `json:"require_accept,omitempty" jsonschema:"description=Warm and bridge: after the summary the human hears accept_prompt and the caller is put through only on the key 1 (RFC 4733 or SIP INFO); another key\\, no key in time or a hang-up declines and the next destination is tried (or the caller stays with the assistant and hears the fallback message); overrides the destination's"`
	AcceptPrompt              string `json:"accept_prompt,omitempty" jsonschema:"description=With require_accept: what the human hears after the summary (default: Press 1 to accept the call.),maxLength=500"`
	VoicemailAction           string `json:"voicemail_action,omitempty" jsonschema:"description=Warm and bridge: when a voicemail box answers (answering-machine detection on the human's line): none (no detection)\\, stop (hang up: as no answer\\, so on_failure applies) or leave_message (leave the summary after the beep\\, then come back; with on_failure end_call the call ends instead); overrides the destinations' own; refused on blind transfers,enum=none,enum=stop,enum=leave_message"`
	AcceptTimeoutSeconds      int    `json:"accept_timeout_seconds,omitempty" jsonschema:"description=With require_accept: seconds the human has to press a key once the prompt has played (default 10),minimum=3,maximum=60"`
}

// CreateCallInput places an outbound call.
type CreateCallInput struct {
	NumberID    string `json:"number_id" jsonschema:"required,description=The phone number the call comes from; its transfer trunk carries the call,minLength=1,maxLength=128"`
	Destination string `json:"destination" jsonschema:"required,description=E.164 number to call,pattern=^\\+[1-9][0-9]{1\\,14}$"`
}

// TransferOutput is a transfer's outcome.
type TransferOutput struct {
	Transfer core.Transfer `json:"transfer" jsonschema:"required"`
}

// transferProgress maps a transfer status to a progress step out of 5.
func transferProgress(status string) float64 {
	switch status {
	case core.TransferRequested:
		return 1
	case core.TransferAccepted:
		return 2
	case core.TransferTrying:
		return 3
	case core.TransferRinging:
		return 4
	}
	return 5
}

// attemptProgress places a step among all the transfer's attempts, five
// steps each, so that progress only grows across fallbacks; a completed
// or failed transfer is at the end.
func attemptProgress(t core.Transfer) (float64, float64) {
	n := len(t.Attempts)
	if n < 1 {
		n = 1
	}
	total := float64(5 * n)
	if t.Final() {
		return total, total
	}
	prior := 0
	if t.Attempt > 1 {
		prior = t.Attempt - 1
	}
	return float64(5*prior) + transferProgress(t.Status), total
}

func describeStep(t core.Transfer) string {
	s := fmt.Sprintf("transfer to %s: %s", t.Destination, t.Status)
	if len(t.Attempts) > 1 {
		s = fmt.Sprintf("transfer to %s (destination %d of %d): %s", t.Destination, t.Attempt, len(t.Attempts), t.Status)
	}
	if t.SIPStatus != 0 {
		s += fmt.Sprintf(" (SIP %d)", t.SIPStatus)
	}
	if t.Reason != "" {
		s += ": " + t.Reason
	}
	return s
}

func callTools(calls *core.Calls) []Tool {
	return []Tool{
		define("list_calls", "List calls",
			"List calls, newest first, optionally only those with one status (in-progress for the live ones), a page at a time.",
			Hints{ReadOnly: true},
			func(ctx context.Context, in ListCallsInput) (CallListOutput, string, error) {
				list, total, err := calls.ListCalls(ctx, core.CallFilter{Status: in.Status, Page: in.page()})
				if err != nil {
					return CallListOutput{}, "", err
				}
				if list == nil {
					list = []core.Call{}
				}
				return CallListOutput{list, pagination(in.ListInput, total)}, fmt.Sprintf("%d of %d calls.", len(list), total), nil
			}),
		define("get_call", "Get call",
			"Get one call by id with its status, timestamps and transfers (each with its steps and SIP statuses).",
			Hints{ReadOnly: true},
			func(ctx context.Context, in GetInput) (CallOutput, string, error) {
				c, err := calls.GetCall(ctx, in.ID)
				if err != nil {
					return CallOutput{}, "", err
				}
				return CallOutput{c}, fmt.Sprintf("Call %s from %s to %s is %s.", c.ID, c.CallerPhone, c.AgentPhone, c.Status), nil
			}),
		define("end_call", "End call",
			"Hang up a live call (SIP BYE) and return it as ended; with a message, the caller hears it first.",
			Hints{Destructive: true, Idempotent: false, OpenWorld: true, LiveCall: true},
			func(ctx context.Context, in EndCallInput) (CallOutput, string, error) {
				c, err := calls.EndCallSaying(ctx, in.CallID, in.Message)
				if err != nil {
					return CallOutput{}, "", err
				}
				return CallOutput{c}, fmt.Sprintf("Call %s ended.", c.ID), nil
			}),
		define("create_call", "Place call",
			"Place an outbound call from one of our phone numbers through its trunk (answering digest challenges), and hold it once answered: it can then be transferred or ended like an inbound call.",
			Hints{OpenWorld: true, Waits: true},
			func(ctx context.Context, in CreateCallInput) (CallOutput, string, error) {
				progressFrom(ctx)(1, 2, "calling "+in.Destination)
				c, err := calls.Dial(ctx, core.DialRequest{NumberID: in.NumberID, Destination: in.Destination})
				if err != nil {
					return CallOutput{}, "", err
				}
				return CallOutput{c}, fmt.Sprintf("Call %s to %s answered; it is %s.", c.ID, c.AgentPhone, c.Status), nil
			}),
		define("transfer_call", "Transfer call",
			"Move a live call's caller to a human: a phone number (through the phone number's transfer trunk) or a SIP URI; blind with SIP REFER, warm (the human is told a summary first) or bridged. "+
				"fallback_destinations are tried in order when one fails. "+
				"Warm and bridge transfers can dial an extension (RFC 4733 DTMF), wait for the human to speak before the summary, and require the human to press 1 to accept (declined otherwise: the next destination is tried). "+
				"Waits for the real outcome and reports each step (requested, accepted, trying, ringing, completed) as a progress notification; run as a task, the task's statusMessage shows the current step and cancelling the task cancels the transfer. "+
				"On failure (busy, no answer, refused) the result is an error with code transfer_failed and the SIP status, and the caller stays connected: try another destination.",
			Hints{Destructive: true, OpenWorld: true, Waits: true, LiveCall: true},
			func(ctx context.Context, in TransferCallInput) (TransferOutput, string, error) {
				progress := progressFrom(ctx)
				requestedBy := ""
				if a, ok := core.ActorFrom(ctx); ok {
					requestedBy = a.Name
				}
				confirm := confirmFrom(ctx)
				ref := taskRefFrom(ctx)
				sent := 0.0
				t, err := calls.Transfer(ctx, core.TransferRequest{
					CallID: in.CallID, Destination: in.Destination, Message: in.Message, RequestedBy: requestedBy,
					FallbackDestinations: in.FallbackDestinations, Mode: in.Mode, Summary: in.Summary,
					SIPHeaders: in.SIPHeaders, Routing: in.TransferRouting,
					FallbackMessage: in.FallbackMessage,
					Extension:       in.Extension, WaitForHumanSpeech: in.WaitForHumanSpeech, HumanSpeechTimeoutSeconds: in.HumanSpeechTimeoutSeconds,
					RequireAccept: in.RequireAccept, AcceptPrompt: in.AcceptPrompt, AcceptTimeoutSeconds: in.AcceptTimeoutSeconds,
					VoicemailAction: in.VoicemailAction,
					Confirm:         confirm.Ask, ConfirmVia: confirm.Via,
				}, func(step core.Transfer) {
					// A transfer is also announced when only a leg's status
					// changed; progress must grow, so such updates are not sent.
					if sent == 0 {
						ref(map[string]string{"call_id": step.CallID, "transfer_id": step.ID})
					}
					done, total := attemptProgress(step)
					if done <= sent {
						return
					}
					sent = done
					progress(done, total, describeStep(step))
				})
				if err != nil {
					return TransferOutput{}, "", err
				}
				if !t.Final() && ctx.Err() != nil && runsAsTask(ctx) {
					// The client cancelled the task: the transfer stops and
					// the caller stays with the assistant.
					if c, cerr := calls.CancelTransfer(context.WithoutCancel(ctx), t.CallID, t.ID, "the MCP client cancelled the task"); cerr == nil {
						t = c
					}
					return TransferOutput{}, "", core.Errorf(core.CodeTransferFailed, "transfer to %s canceled: the MCP client cancelled the task; the caller is still connected", t.Destination)
				}
				if !t.Final() {
					return TransferOutput{t}, fmt.Sprintf("Stopped waiting; %s. get_call shows the outcome.", describeStep(t)), nil
				}
				return TransferOutput{t}, "Transferred: " + describeStep(t) + ".", nil
			}),
	}
}
