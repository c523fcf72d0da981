package core

import (
	"fmt"
	"strings"
)

// ConsultSteps is what a configured warm or bridge destination has the
// server do on its own call to the human before the caller is put
// through, in order: check_destination shows it, since it changes how
// the transfer goes.
type ConsultSteps struct {
	Mode                      string   `json:"mode" jsonschema:"required,description=The destination's transfer mode,enum=warm,enum=bridge"`
	Extension                 string   `json:"extension,omitempty" jsonschema:"description=Digits sent as RFC 4733 DTMF once the human's side answers"`
	WaitForHumanSpeech        bool     `json:"wait_for_human_speech,omitempty" jsonschema:"description=The summary waits for the human to speak"`
	HumanSpeechTimeoutSeconds int      `json:"human_speech_timeout_seconds,omitempty" jsonschema:"description=The longest wait for the human's voice"`
	RequireAccept             bool     `json:"require_accept,omitempty" jsonschema:"description=The caller is put through only when the human presses 1"`
	AcceptPrompt              string   `json:"accept_prompt,omitempty" jsonschema:"description=What the human hears after the summary"`
	AcceptTimeoutSeconds      int      `json:"accept_timeout_seconds,omitempty" jsonschema:"description=Seconds the human has to press a key"`
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
	if err != nil || !p.active() {
		return nil
	}
	out := &ConsultSteps{Mode: d.Mode, Extension: p.extension, WaitForHumanSpeech: p.waitSpeech, RequireAccept: p.requireAccept}
	steps := []string{"call the destination, the caller on hold"}
	if p.extension != "" {
		steps = append(steps, fmt.Sprintf("once answered, send %s as RFC 4733 DTMF (w: a half-second pause)", p.extension))
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
		steps = append(steps, fmt.Sprintf("play %q and wait at most %d s for a key: 1 puts the caller through; another key, none or a hang-up declines (the attempt is recorded declined; the next destination is tried, or the caller stays with the assistant and hears the fallback message)", p.acceptPrompt, out.AcceptTimeoutSeconds))
	}
	if d.Mode == ModeWarm {
		steps = append(steps, "REFER the caller to the human with Replaces (bridged by the server when the caller's side cannot)")
	} else {
		steps = append(steps, "relay the audio between the caller and the human")
	}
	out.Steps = steps
	return out
}
