package core

import (
	"context"
	"strings"
	"time"
)

// maxMessage bounds what one command says, as first_message is bounded.
const maxMessage = 1000

// maxPlayback bounds one message's playback (the speech package caps
// audio at two minutes; rendering takes some time too).
const maxPlayback = 3 * time.Minute

// voiceLocked is the call's assistant's voice; lc.mu is held.
func voiceLocked(lc *liveCall) *TTSConfig {
	if lc.assistant != nil {
		return lc.assistant.TTSConfig
	}
	return nil
}

// greetLocked says an inbound call's first_message once it is answered,
// on the manager's background context; lc.mu is held.
func (m *Calls) greetLocked(lc *liveCall) {
	if m.media == nil || lc.call.Direction != DirectionInbound {
		return
	}
	if m.askConsentLocked(lc) {
		return
	}
	if strings.TrimSpace(lc.call.FirstMessage) == "" {
		return
	}
	id, u := lc.call.ID, Utterance{Text: lc.call.FirstMessage, Voice: voiceLocked(lc)}
	m.work.Go(func() {
		ctx, cancel := context.WithTimeout(m.bg, maxPlayback)
		defer cancel()
		if err := m.speak(ctx, id, u); err != nil && !HasCode(err, CodeCallNotActive) {
			m.logger.Warn("first message not played", "call_id", id, "err", err)
		}
	})
}

// SayRequest asks for something to be said on a live call.
type SayRequest struct {
	CallID  string
	Message string
	// EndAfter hangs up once the message has been played.
	EndAfter bool
}

// Say plays a message to a live call and returns once it has been played
// to the end (or, with EndAfter, once the call has been hung up after it).
// It is a control command, limited like transfers and hang-ups.
func (m *Calls) Say(ctx context.Context, req SayRequest) (Call, error) {
	if strings.TrimSpace(req.CallID) == "" {
		return Call{}, FieldError(CodeMissingField, "call_id", "call_id is required")
	}
	if strings.TrimSpace(req.Message) == "" {
		return Call{}, FieldError(CodeMissingField, "message", "message is required")
	}
	if err := maxLen("message", req.Message, maxMessage); err != nil {
		return Call{}, err
	}
	lc := m.get(req.CallID)
	if lc == nil {
		return Call{}, m.notLive(ctx, req.CallID)
	}
	if err := m.allowCommand(lc); err != nil {
		return Call{}, err
	}
	if err := m.sayOn(ctx, lc, req.Message); err != nil {
		return Call{}, err
	}
	if req.EndAfter {
		return m.hangup(ctx, lc)
	}
	return m.GetCall(ctx, req.CallID)
}

// sayOn plays message to an answered call without holding its lock.
func (m *Calls) sayOn(ctx context.Context, lc *liveCall, message string) error {
	if m.media == nil {
		return &Error{Code: CodeUnsupported, Message: "this server has no call media: it cannot speak"}
	}
	lc.mu.Lock()
	status, u := lc.call.Status, Utterance{Text: message, Voice: voiceLocked(lc)}
	lc.mu.Unlock()
	if status != CallInProgress {
		return FieldError(CodeCallNotActive, "call_id", "call %s is %s; only a call in progress can be spoken to", lc.call.ID, status)
	}
	pctx, cancel := context.WithTimeout(ctx, maxPlayback)
	defer cancel()
	return m.speak(pctx, lc.call.ID, u)
}

// EndCallSaying hangs up a live call after saying message ("" for none).
// When the message cannot be played the call is left up and the error
// says why.
func (m *Calls) EndCallSaying(ctx context.Context, id, message string) (Call, error) {
	if strings.TrimSpace(id) == "" {
		return Call{}, FieldError(CodeMissingField, "call_id", "call_id is required")
	}
	if err := maxLen("message", message, maxMessage); err != nil {
		return Call{}, err
	}
	lc := m.get(id)
	if lc == nil {
		return Call{}, m.notLive(ctx, id)
	}
	if err := m.allowCommand(lc); err != nil {
		return Call{}, err
	}
	if strings.TrimSpace(message) != "" {
		if err := m.sayOn(ctx, lc, message); err != nil {
			return Call{}, err
		}
	}
	return m.hangup(ctx, lc)
}
