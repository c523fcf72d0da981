package core

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// TransferRouting is how a destination is rung and what happens when
// nobody takes the call. A destination of an assistant's transfer_call
// tool carries it, and so does a transfer request, whose values win over
// the destination's.
type TransferRouting struct {
	CallerID string `json:"caller_id,omitempty" jsonschema:"description=Who the human's phone shows on the server's own call (warm and bridge): number (our phone number\\, the default)\\, caller (the caller's number\\, also as P-Asserted-Identity) or an E.164 that is one of our phone numbers; any other number is refused. Blind transfers: the caller's side places the call and shows what it chooses,maxLength=16,pattern=^(number|caller|\\+[1-9][0-9]{1\\,14})$"`
	// HoldAudioURL is looped to the caller while the human is called.
	HoldAudioURL string `json:"hold_audio_url,omitempty" jsonschema:"description=What the caller hears while the human's phone rings (warm and bridge)\\, looped: a WAV file as an https URL (on a public address) or an absolute path inside the server's audio folder (VOICEDOCK_AUDIO_DIR); without it a ringback tone,maxLength=2048"`
	// RingTimeoutSeconds bounds the ringing; DialTimeout is its older
	// name, which RingTimeoutSeconds wins over when both are set.
	RingTimeoutSeconds int `json:"ring_timeout_seconds,omitempty" jsonschema:"description=Seconds the human's phone may ring (default 30): warm and bridge CANCEL the server's call then; blind fails the REFER's attempt when no final NOTIFY came by then,minimum=5,maximum=120"`
	DialTimeout        int `json:"dial_timeout,omitempty" jsonschema:"description=The older name of ring_timeout_seconds\\, which wins when both are set,minimum=5,maximum=120"`
	// OnFailure is what follows an attempt that found nobody.
	OnFailure        string `json:"on_failure,omitempty" jsonschema:"description=When this destination does not answer\\, is busy\\, declines or a voicemail box answers it (voicemail_action stop; after leave_message the transfer ends anyway\\, and only end_call changes what follows): next (the default: the next fallback destination\\, then back to the assistant)\\, back_to_assistant (no more destinations: the caller hears on_failure_message and stays with the assistant) or end_call (the caller hears on_failure_message\\, then the call ends with end_reason transfer_failed),enum=next,enum=back_to_assistant,enum=end_call"`
	OnFailureMessage string `json:"on_failure_message,omitempty" jsonschema:"description=Said to the caller with back_to_assistant and end_call (default: the request's fallback_message\\, else Sorry\\, nobody could take your call right now.),maxLength=1000"`
}

// What follows a failed attempt (on_failure).
const (
	OnFailureNext            = "next"
	OnFailureBackToAssistant = "back_to_assistant"
	OnFailureEndCall         = "end_call"
)

// EndTransferFailed ends a call whose transfer found nobody when the
// destination's on_failure is end_call.
const EndTransferFailed = "transfer_failed"

// checkRouting checks the form of r's fields; param prefixes their names.
// Whether an E.164 caller_id is ours is decided when the transfer starts
// (checkCallerIDOwned): numbers are added and removed after an assistant
// is saved.
func checkRouting(param string, r TransferRouting) error {
	if err := checkCallerID(param+"caller_id", r.CallerID); err != nil {
		return err
	}
	if err := checkAudioURL(param+"hold_audio_url", r.HoldAudioURL); err != nil {
		return err
	}
	if err := checkRingTimeout(param+"ring_timeout_seconds", r.RingTimeoutSeconds); err != nil {
		return err
	}
	if err := checkRingTimeout(param+"dial_timeout", r.DialTimeout); err != nil {
		return err
	}
	switch r.OnFailure {
	case "", OnFailureNext, OnFailureBackToAssistant, OnFailureEndCall:
	default:
		return FieldError(CodeInvalidRequest, param+"on_failure", "on_failure %q is not next, back_to_assistant or end_call", clip(r.OnFailure))
	}
	return maxLen(param+"on_failure_message", r.OnFailureMessage, 1000)
}

func checkCallerID(param, id string) error {
	switch {
	case id == "", id == CallerIDNumber, id == CallerIDCaller:
		return nil
	case strings.HasPrefix(id, "+"):
		if _, err := ParseE164(param, id); err != nil {
			return FieldError(CodeInvalidRequest, param, "caller_id %q is not a valid E.164 number", clip(id))
		}
		return nil
	}
	return FieldError(CodeInvalidRequest, param, "caller_id %q is not number, caller or an E.164 number of ours", clip(id))
}

func checkRingTimeout(param string, seconds int) error {
	if seconds != 0 && (seconds < minDialTimeout || seconds > maxDialTimeout) {
		return FieldError(CodeInvalidRequest, param, "%s must be %d to %d seconds (got %d)", param[strings.LastIndex(param, ".")+1:], minDialTimeout, maxDialTimeout, seconds)
	}
	return nil
}

// ringSeconds is the ring timeout r sets, 0 when none: ring_timeout_seconds
// over its older name dial_timeout.
func (r TransferRouting) ringSeconds() int {
	if r.RingTimeoutSeconds != 0 {
		return r.RingTimeoutSeconds
	}
	return r.DialTimeout
}

// over returns r with the fields o sets replacing r's.
func (r TransferRouting) over(o TransferRouting) TransferRouting {
	if o.CallerID != "" {
		r.CallerID = o.CallerID
	}
	if o.HoldAudioURL != "" {
		r.HoldAudioURL = o.HoldAudioURL
	}
	if s := o.ringSeconds(); s != 0 {
		r.RingTimeoutSeconds, r.DialTimeout = s, 0
	}
	if o.OnFailure != "" {
		r.OnFailure = o.OnFailure
	}
	if o.OnFailureMessage != "" {
		r.OnFailureMessage = o.OnFailureMessage
	}
	return r
}

// failureKind says whether an attempt's failure is one on_failure applies
// to (the human did not take the call: no answer, busy, declined) and
// which; "" for anything else (a destination that does not exist, a
// refused REFER, a server error), after which the next destination is
// tried whatever on_failure says.
func failureKind(sipStatus int, noAnswer bool) string {
	switch {
	case noAnswer:
		return "no_answer"
	case sipStatus == 408 || sipStatus == 480 || sipStatus == 487:
		return "no_answer"
	case sipStatus == 486 || sipStatus == 600:
		return "busy"
	case sipStatus == 603:
		return "declined"
	}
	return ""
}

// onFailureFor is what follows the plan's attempt failing this way.
func (p attemptPlan) onFailureFor(sipStatus int, noAnswer bool) string {
	if failureKind(sipStatus, noAnswer) == "" || p.onFailure == "" {
		return OnFailureNext
	}
	return p.onFailure
}

// onFailureOn is onFailureFor for an attempt that ends with
// attemptStatus: one the human declined (did not accept) is declined
// whatever the SIP status, and one a voicemail box answered
// (voicemail_action) is no answer from the human.
func (p attemptPlan) onFailureOn(attemptStatus string, sipStatus int, noAnswer bool) string {
	if (attemptStatus == AttemptDeclined || attemptStatus == AttemptVoicemail) && p.onFailure != "" {
		return p.onFailure
	}
	return p.onFailureFor(sipStatus, noAnswer)
}

// failureMessage is what the caller hears when the plan's failure ends
// the transfer: its on_failure_message, else the request's fallback
// message, else the default.
func (p attemptPlan) failureMessage(fallback string) string {
	switch {
	case p.onFailureMessage != "":
		return p.onFailureMessage
	case fallback != "":
		return fallback
	}
	return DefaultFallbackMessage
}

// ringTimeout is how long the plan's destination may ring: its own or the
// request's setting, else def.
func (p attemptPlan) ringTimeout(def time.Duration) time.Duration {
	if p.ringSeconds != 0 {
		return time.Duration(p.ringSeconds) * time.Second
	}
	return def
}

// checkCallerIDOwned refuses a caller_id E.164 that is neither one of our
// phone numbers nor the caller's own: presenting someone else's number is
// spoofing (and STIR/SHAKEN would give it no attestation); lc.mu is held.
func (m *Calls) checkCallerIDOwned(ctx context.Context, lc *liveCall, param, id string) error {
	if !strings.HasPrefix(id, "+") {
		return nil
	}
	ours, theirs := lc.call.AgentPhone, lc.call.CallerPhone
	if lc.call.Direction == DirectionOutbound {
		ours, theirs = theirs, ours
	}
	if id == ours || id == theirs {
		return nil
	}
	_, err := m.store.FindPhoneNumber(ctx, id)
	switch {
	case err == nil:
		return nil
	case HasCode(err, CodeNotFound):
		m.logger.WarnContext(ctx, "transfer refused: caller_id is not ours", "call_id", lc.call.ID, "caller_id", clip(id))
		return FieldError(CodeCallerIDNotAllowed, param, "caller_id %s is not one of our phone numbers nor the caller's number; nothing was dialled", clip(id))
	}
	return fmt.Errorf("looking up caller_id: %w", err)
}

// endAfterFailure says msg to the caller of a transfer that found nobody
// and, with end, hangs the call up (end_reason transfer_failed) once it
// has been said. It runs in its own goroutine.
func (m *Calls) endAfterFailure(lc *liveCall, msg string, say, end bool) {
	callID := lc.call.ID
	voice := m.voice(lc)
	if say {
		m.say(m.bg, callID, msg, voice)
	}
	if !end {
		return
	}
	lc.mu.Lock()
	if lc.call.Status != CallInProgress || lc.active != nil {
		lc.mu.Unlock()
		return // the caller hung up meanwhile, or another transfer began
	}
	lc.endReason = EndTransferFailed
	lc.mu.Unlock()
	m.hangupAsync(callID)
}

// skipRemainingLocked records the attempts after the current one as not
// tried, because the current one's on_failure (action) ended the
// transfer; lc.mu is held.
func (m *Calls) skipRemainingLocked(t *Transfer, action string) {
	now := m.timestamp()
	for i := t.Attempt; i < len(t.Attempts); i++ {
		a := &t.Attempts[i]
		a.Status, a.Reason, a.EndedAt = TransferCanceled, "not tried: the destination before it has on_failure "+action, &now
	}
}

// describeRoutingLocked shows on an attempt's record how it is rung: the
// ring timeout in force, on_failure and, for warm and bridge, what the
// caller hears meanwhile.
func (m *Calls) describeRoutingLocked(a *TransferAttempt, p attemptPlan) {
	a.RingTimeoutSeconds, a.HoldAudio = p.ringing(m.cfg.TransferTimeout)
	a.OnFailure = p.onFailure
}

// ringing is the plan's ring timeout in whole seconds (blindDefault, the
// wait for a REFER's final NOTIFY, for a blind one without its own) and,
// for warm and bridge, its hold audio: ringback or the URL.
func (p attemptPlan) ringing(blindDefault time.Duration) (int, string) {
	def, hold := DefaultDialTimeout, HoldRingback
	if p.mode == ModeBlind {
		def, hold = blindDefault, ""
	} else if p.holdAudioURL != "" {
		hold = p.holdAudioURL
	}
	return int(p.ringTimeout(def).Round(time.Second) / time.Second), hold
}

// HoldRingback is what an attempt's hold_audio says when the caller
// hears a ringback tone.
const HoldRingback = "ringback"

// onFailureNote is what a transfer's reason adds when on_failure ended it.
func onFailureNote(action string) string {
	if action == OnFailureEndCall {
		return endCallNote
	}
	return " (on_failure back_to_assistant: no other destination tried)"
}

// endCallNote ends the reason of a transfer whose failure ends the call.
const endCallNote = " (on_failure end_call: the call is ended)"
