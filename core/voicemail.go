package core

import (
	"context"
	"fmt"
	"time"
)

// What a warm or bridge transfer does when a voicemail box answers the
// server's own call instead of the human (voicemail_action).
const (
	// VoicemailNone listens for nothing: whoever answers is put through
	// (the default).
	VoicemailNone = "none"
	// VoicemailStop hangs up on a machine and goes on as on no answer:
	// the next destination, or the caller back to the assistant.
	VoicemailStop = "stop"
	// VoicemailLeaveMessage waits for the beep, says the summary as the
	// message, hangs up, and brings the caller back to the assistant.
	VoicemailLeaveMessage = "leave_message"
)

// Who answered a transfer's own call, by answering-machine detection.
const (
	AnsweredByHuman   = "human"
	AnsweredByMachine = "machine"
	// AnsweredByUnknown: nothing was decided in the time allowed; treated
	// as a human, so that a person is never dropped for a machine.
	AnsweredByUnknown = "unknown"
)

// AttemptVoicemail is the status of an attempt a voicemail box answered:
// a failure that is never bridged (the caller must not be put through to
// the box).
const AttemptVoicemail = "voicemail"

// DefaultVoicemailFallbackMessage is said to a caller after a message was
// left for the human, when the transfer has no fallback_message.
const DefaultVoicemailFallbackMessage = "Nobody could take your call right now; I have left them a message."

// VoicemailCheck is what answering-machine detection found on a call.
type VoicemailCheck struct {
	// AnsweredBy is AnsweredByHuman, AnsweredByMachine or
	// AnsweredByUnknown.
	AnsweredBy string
	// Reason says why ("a greeting longer than 2.3s", "a beep at 1000
	// Hz").
	Reason string
	// DecidedAfter is how long after the call was answered.
	DecidedAfter time.Duration
	// ReadyAfter, for a machine when asked to wait for the beep, is when
	// a message can start: the beep ended (Beep) or the greeting was
	// followed by a long silence.
	ReadyAfter time.Duration
	Beep       bool
}

// VoicemailListen says what DetectVoicemail does once it found a machine.
type VoicemailListen struct {
	// WaitForBeep listens on until a message can be left.
	WaitForBeep bool
	// Message, when set, is the message that will then be said: rendered
	// while the greeting plays, so that it starts as the beep ends.
	Message *Utterance
}

// VoicemailDetector is the media adapter's answering-machine detection,
// on the audio received on an answered call. The media engine implements
// it; a Media without it makes voicemail_action a no-op (logged).
type VoicemailDetector interface {
	// DetectVoicemail listens to the call until it can tell a person from
	// a machine (a bounded time), then for a machine does what opts says.
	DetectVoicemail(ctx context.Context, callID string, opts VoicemailListen) (VoicemailCheck, error)
}

func checkVoicemailAction(param, action string) error {
	switch action {
	case "", VoicemailNone, VoicemailStop, VoicemailLeaveMessage:
		return nil
	}
	return FieldError(CodeInvalidRequest, param, "voicemail_action %q is not none, stop or leave_message", clip(action))
}

// checkVoicemailMode refuses a voicemail_action on a blind transfer: the
// caller's own side calls the destination, and the server never hears
// who answers.
func checkVoicemailMode(param, mode, action string) error {
	if action == "" || action == VoicemailNone || mode == ModeWarm || mode == ModeBridge {
		return nil
	}
	return FieldError(CodeInvalidRequest, param, "voicemail_action %s needs mode warm or bridge: on a blind transfer the caller's side calls the destination and the server cannot hear who answers", action)
}

// screenVoicemail runs the attempt's voicemail_action on its answered
// leg, as the first step of consulting the human. It returns the
// attempt's outcome when a machine answered (recorded voicemail; for
// leave_message the message has been left and the transfer ends with
// this attempt), nil when the human is there or nobody could tell; and
// who answered. It holds no lock across the detection.
func (m *Calls) screenVoicemail(ctx context.Context, lc *liveCall, legID, action string) (*consultOutcome, string) {
	det, ok := m.media.(VoicemailDetector)
	if !ok {
		m.logger.WarnContext(ctx, "no answering-machine detection: voicemail_action ignored", "call_id", lc.call.ID, "leg_call_id", legID)
		return nil, ""
	}
	lc.mu.Lock()
	a := lc.legAttemptLocked(legID)
	if a == nil {
		lc.mu.Unlock()
		return &consultOutcome{status: TransferFailed, reason: "the transfer ended"}, ""
	}
	message := Utterance{Text: lc.active.Summary, Voice: voiceLocked(lc)}
	if message.Text == "" {
		message.Text = "You missed a transferred call"
		if lc.call.CallerPhone != "" {
			message.Text += " from " + lc.call.CallerPhone
		}
		message.Text += "."
	}
	lc.mu.Unlock()
	opts := VoicemailListen{}
	if action == VoicemailLeaveMessage {
		opts = VoicemailListen{WaitForBeep: true, Message: &message}
	}
	check, err := det.DetectVoicemail(ctx, legID, opts)
	if err != nil {
		m.logger.InfoContext(ctx, "answering-machine detection", "call_id", lc.call.ID, "leg_call_id", legID, "err", err)
		if HasCode(err, CodeCallNotActive) {
			return &consultOutcome{status: TransferFailed, reason: "the destination hung up before the caller was put through"}, ""
		}
		return &consultOutcome{status: TransferFailed, reason: "the transfer ended"}, ""
	}
	lc.mu.Lock()
	if a := lc.legAttemptLocked(legID); a != nil {
		a.AnsweredBy = check.AnsweredBy
		lc.active.UpdatedAt = m.timestamp()
		m.saveTransfer(m.bg, lc, lc.active)
	}
	lc.mu.Unlock()
	m.logger.InfoContext(ctx, "answering-machine detection", "call_id", lc.call.ID, "leg_call_id", legID,
		"answered_by", check.AnsweredBy, "reason", check.Reason, "decided_after", check.DecidedAfter, "ready_after", check.ReadyAfter, "beep", check.Beep)
	if check.AnsweredBy != AnsweredByMachine {
		return nil, check.AnsweredBy
	}
	reason := fmt.Sprintf("a voicemail box answered (%s, after %s)", check.Reason, check.DecidedAfter.Round(10*time.Millisecond))
	if action == VoicemailLeaveMessage {
		_ = m.sayUtterance(ctx, legID, message)
		reason += "; the summary was left as a message"
		lc.mu.Lock()
		if a := lc.legAttemptLocked(legID); a != nil {
			// The message is left: no other destination is rung, and the
			// caller hears that it was.
			lc.lastAttempt = true
			if lc.fallbackMessage == "" {
				lc.fallbackMessage = DefaultVoicemailFallbackMessage
			}
			t := lc.active
			for i := t.Attempt; i < len(t.Attempts); i++ {
				t.Attempts[i].Status = TransferCanceled
				t.Attempts[i].Reason = "not tried: a message was left at " + a.Destination
			}
		}
		lc.mu.Unlock()
	}
	return &consultOutcome{status: AttemptVoicemail, reason: reason}, check.AnsweredBy
}

// legAttemptLocked is the active transfer's current attempt when legID is
// its own call, nil otherwise (the transfer ended or moved on); lc.mu is
// held.
func (lc *liveCall) legAttemptLocked(legID string) *TransferAttempt {
	if lc.active == nil || lc.active.Final() || lc.leg != legID {
		return nil
	}
	a := lc.active.current()
	if a == nil || a.LegCallID != legID {
		return nil
	}
	return a
}
