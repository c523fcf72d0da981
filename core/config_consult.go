package core

import (
	"fmt"
	"strings"
)

// ConsultSteps is what a configured warm or bridge destination has the
// server do on its own call to the human before the caller is put
// through, in order: check_destination shows it, since it changes how
// the transfer goes. The mode, hold audio and on_failure are shown
// beside it (TransferSettings), not repeated here.
type ConsultSteps struct {
	Extension                 string   `json:"extension,omitempty" jsonschema:"description=Digits sent as RFC 4733 DTMF once the human's side answers"`
	WaitForHumanSpeech        bool     `json:"wait_for_human_speech,omitempty" jsonschema:"description=The summary waits for the human to speak"`
	HumanSpeechTimeoutSeconds int      `json:"human_speech_timeout_seconds,omitempty" jsonschema:"description=The longest wait for the human's voice"`
	RequireAccept             bool     `json:"require_accept,omitempty" jsonschema:"description=The caller is put through only when the human presses 1"`
	AcceptPrompt              string   `json:"accept_prompt,omitempty" jsonschema:"description=What the human hears after the summary"`
	AcceptTimeoutSeconds      int      `json:"accept_timeout_seconds,omitempty" jsonschema:"description=Seconds the human has to press a key"`
	VoicemailAction           string   `json:"voicemail_action,omitempty" jsonschema:"description=What a voicemail box answering the human's line gets: stop or leave_message,enum=stop,enum=leave_message"`
	Steps                     []string `json:"steps" jsonschema:"required,description=What happens on the server's call to the human\\, in order"`
}

// consultSteps describes what the assistant's configured destination
// dest does on the human's call; nil when it is not configured, blind, or
// does no more than a plain warm or bridge transfer.
func consultSteps(a *Assistant, dest Destination) *ConsultSteps {
	if a == nil {
		return nil
	}
	var d *Destination
	for _, c := range a.TransferDestinations() {
		if c.Type == dest.Type && strings.EqualFold(c.Target(), dest.Target()) {
			d = &c
			break
		}
	}
	if d == nil || (d.Mode != ModeWarm && d.Mode != ModeBridge) {
		return nil
	}
	p, err := planConsult(TransferRequest{}, d, d.Mode)
	if err != nil {
		return nil
	}
	if d.VoicemailAction != VoicemailNone {
		p.voicemail = d.VoicemailAction
	}
	if !p.active() {
		return nil
	}
	out := &ConsultSteps{Extension: p.extension, WaitForHumanSpeech: p.waitSpeech, RequireAccept: p.requireAccept, VoicemailAction: p.voicemail}
	hold := "a ringback tone"
	if d.HoldAudioURL != "" {
		hold = "the hold audio, looped"
	}
	failed := failureOutcome(d.OnFailure)
	steps := []string{"call the destination, the caller hearing " + hold}
	if p.extension != "" {
		steps = append(steps, fmt.Sprintf("once answered, send %s as RFC 4733 DTMF (w: a half-second pause)", p.extension))
	}
	switch p.voicemail {
	case VoicemailStop:
		steps = append(steps, "listen for a voicemail box (a long greeting or a beep, decided within about 4 s; unsure counts as a person): on one, hang up (the attempt is recorded voicemail: "+failed+")")
	case VoicemailLeaveMessage:
		steps = append(steps, "listen for a voicemail box (a long greeting or a beep, decided within about 4 s; unsure counts as a person): on one, wait for its beep, leave the summary as a message and hang up (the attempt is recorded voicemail; no other destination is tried: "+leftOutcome(d.OnFailure)+")")
	}
	if p.waitSpeech {
		out.HumanSpeechTimeoutSeconds = int(p.speechTimeout.Seconds())
		steps = append(steps, fmt.Sprintf("wait for the human to speak, at most %d s", out.HumanSpeechTimeoutSeconds))
	}
	if d.Mode == ModeWarm || p.waitSpeech || p.requireAccept {
		steps = append(steps, "tell the human the transfer's summary")
	}
	if p.requireAccept {
		out.AcceptPrompt, out.AcceptTimeoutSeconds = p.acceptPrompt, int(p.acceptTimeout.Seconds())
		steps = append(steps, fmt.Sprintf("play %q and wait at most %d s for a key: 1 puts the caller through; another key, none or a hang-up declines (the attempt is recorded declined: %s)", p.acceptPrompt, out.AcceptTimeoutSeconds, failed))
	}
	if d.Mode == ModeWarm {
		steps = append(steps, "REFER the caller to the human with Replaces (bridged by the server when the caller's side cannot)")
	} else {
		steps = append(steps, "relay the audio between the caller and the human")
	}
	out.Steps = steps
	return out
}

// failureOutcome says what follows an attempt that found nobody, by the
// destination's on_failure.
func failureOutcome(onFailure string) string {
	switch onFailure {
	case OnFailureBackToAssistant:
		return "on_failure back_to_assistant: no other destination is tried, the caller stays with the assistant and hears on_failure_message"
	case OnFailureEndCall:
		return "on_failure end_call: no other destination is tried, the caller hears on_failure_message and the call ends"
	}
	return "the next destination is tried, or the caller stays with the assistant and hears the fallback message"
}

// leftOutcome says what follows a message left on the destination's
// voicemail: the transfer ends whatever on_failure says, and end_call
// still ends the call.
func leftOutcome(onFailure string) string {
	if onFailure == OnFailureEndCall {
		return "the caller hears that a message was left (on_failure_message when set), then the call ends (on_failure end_call)"
	}
	return "the caller stays with the assistant and hears that a message was left (on_failure_message when set)"
}
