package core

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// What a warm or bridge transfer may do on the server's own call to the
// human before the caller is put through: dial an extension, wait for the
// human to speak, and ask the human to accept the call with a key.
const (
	// DefaultAcceptPrompt is what the human hears after the summary when
	// a destination requires them to accept.
	DefaultAcceptPrompt = "Press 1 to accept the call."
	// AcceptKey is the key that accepts; any other declines.
	AcceptKey = "1"
	// DefaultAcceptTimeout is how long the human has to press a key once
	// the prompt has been played.
	DefaultAcceptTimeout = 10 * time.Second
	minAcceptTimeout     = 3
	maxAcceptTimeout     = 60
	maxAcceptPrompt      = 500
	// DefaultHumanSpeechTimeout bounds the wait for the human's first
	// words; the summary is played anyway after it.
	DefaultHumanSpeechTimeout = 5 * time.Second
	minHumanSpeechTimeout     = 1
	maxHumanSpeechTimeout     = 30
	maxExtension              = 32
	// ExtensionPause is what a "w" in an extension waits.
	ExtensionPause = 500 * time.Millisecond
)

// AttemptDeclined is the status of an attempt whose human answered but
// did not accept the call: another key, no key in time, or a hang-up.
const AttemptDeclined = "declined"

// LegSignal is something heard on a call's audio: a key pressed (RFC 4733
// telephone-event or SIP INFO), or the start of speech.
type LegSignal struct {
	// Digit is the key (0-9, *, #, A-D); "" for speech.
	Digit string
	// Speech is set when voice activity starts.
	Speech bool
}

// LegMedia is what a warm or bridge transfer asks of the audio of the
// server's own call to the human, beyond Media. The media engine
// implements it; without it no extension is dialled, the summary is not
// held back for the human's voice, and a destination that requires the
// human to accept is declined (nothing could hear the key).
type LegMedia interface {
	// SendDigits sends digits (0-9, *, #; "w" pauses ExtensionPause) on
	// the call as RFC 4733 telephone-events at the negotiated payload
	// type (as tones in the audio when none was negotiated), and returns
	// once the last has been sent.
	SendDigits(ctx context.Context, callID, digits string) error
	// Listen reports the keys pressed and the starts of speech heard on
	// the call from now on. The channel is closed when ctx ends or the
	// call's media does.
	Listen(ctx context.Context, callID string) (<-chan LegSignal, error)
}

// consultPlan is what an attempt does on the human's call between its
// answer and the caller being put through.
type consultPlan struct {
	extension     string
	waitSpeech    bool
	speechTimeout time.Duration
	requireAccept bool
	acceptPrompt  string
	acceptTimeout time.Duration
}

// active reports whether the plan asks for anything beyond the summary.
func (c consultPlan) active() bool {
	return c.extension != "" || c.waitSpeech || c.requireAccept
}

// extensionOK reports whether s is a dialable extension: 1 to 32 of the
// digits, * and #, with w for a half-second pause.
func extensionOK(s string) bool {
	if len(s) < 1 || len(s) > maxExtension {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789*#w", rune(s[i])) {
			return false
		}
	}
	return true
}

// consultFields are the consult options as a destination or a request
// gives them; nil booleans are unset (a request's false overrides a
// destination's true).
type consultFields struct {
	requireAccept        *bool
	acceptPrompt         string
	acceptTimeoutSeconds int
	waitSpeech           *bool
	speechTimeoutSeconds int
	extension            string
}

func (d Destination) consultFields() consultFields {
	return consultFields{
		requireAccept: &d.RequireAccept, acceptPrompt: d.AcceptPrompt, acceptTimeoutSeconds: d.AcceptTimeoutSeconds,
		waitSpeech: &d.WaitForHumanSpeech, speechTimeoutSeconds: d.HumanSpeechTimeoutSeconds, extension: d.Extension,
	}
}

func (r TransferRequest) consultFields() consultFields {
	return consultFields{
		requireAccept: r.RequireAccept, acceptPrompt: r.AcceptPrompt, acceptTimeoutSeconds: r.AcceptTimeoutSeconds,
		waitSpeech: r.WaitForHumanSpeech, speechTimeoutSeconds: r.HumanSpeechTimeoutSeconds, extension: r.Extension,
	}
}

func isSet(b *bool) bool { return b != nil && *b }

// check checks each field on its own; prefix is "" for a request, or the
// destination's path with a dot.
func (f consultFields) check(prefix string) error {
	if err := maxLen(prefix+"accept_prompt", f.acceptPrompt, maxAcceptPrompt); err != nil {
		return err
	}
	if f.acceptPrompt != "" && strings.TrimSpace(f.acceptPrompt) == "" {
		return FieldError(CodeInvalidRequest, prefix+"accept_prompt", "accept_prompt must not be blank")
	}
	if s := f.acceptTimeoutSeconds; s != 0 && (s < minAcceptTimeout || s > maxAcceptTimeout) {
		return FieldError(CodeInvalidRequest, prefix+"accept_timeout_seconds", "accept_timeout_seconds must be %d to %d (got %d)", minAcceptTimeout, maxAcceptTimeout, s)
	}
	if s := f.speechTimeoutSeconds; s != 0 && (s < minHumanSpeechTimeout || s > maxHumanSpeechTimeout) {
		return FieldError(CodeInvalidRequest, prefix+"human_speech_timeout_seconds", "human_speech_timeout_seconds must be %d to %d (got %d)", minHumanSpeechTimeout, maxHumanSpeechTimeout, s)
	}
	if f.extension != "" && !extensionOK(f.extension) {
		return FieldError(CodeInvalidRequest, prefix+"extension", "extension %q must be 1 to %d of 0-9, *, # and w (a half-second pause)", clip(f.extension), maxExtension)
	}
	return nil
}

// checkForMode refuses what a mode cannot do: a blind transfer hands the
// caller over with a REFER, so nothing of ours is on the line to hear the
// human, wait for them or dial their extension. param names the field
// the refusal is about.
func (f consultFields) checkForMode(prefix, mode string) error {
	if mode != "" && mode != ModeBlind {
		return nil
	}
	switch {
	case isSet(f.requireAccept):
		return FieldError(CodeInvalidRequest, prefix+"require_accept", "require_accept needs mode warm or bridge: a blind transfer (REFER) leaves nothing of ours on the line to hear the human's key")
	case isSet(f.waitSpeech):
		return FieldError(CodeInvalidRequest, prefix+"wait_for_human_speech", "wait_for_human_speech needs mode warm or bridge: on a blind transfer (REFER) the server never hears the human")
	case f.extension != "":
		return FieldError(CodeInvalidRequest, prefix+"extension", "extension needs mode warm or bridge: a REFER's Refer-To cannot carry digits to dial after the answer (use a sip: destination that names the extension, e.g. sip:204@pbx.example.com)")
	}
	return nil
}

// planConsult combines the request's consult options with the
// destination's (the request's win) and checks them against the mode;
// mode is the attempt's, modeFromRequest whether the request set it.
func planConsult(req TransferRequest, configured *Destination, mode string) (consultPlan, error) {
	r := req.consultFields()
	f := r
	if configured != nil {
		d := configured.consultFields()
		if f.requireAccept == nil {
			f.requireAccept = d.requireAccept
		}
		if f.acceptPrompt == "" {
			f.acceptPrompt = d.acceptPrompt
		}
		if f.acceptTimeoutSeconds == 0 {
			f.acceptTimeoutSeconds = d.acceptTimeoutSeconds
		}
		if f.waitSpeech == nil {
			f.waitSpeech = d.waitSpeech
		}
		if f.speechTimeoutSeconds == 0 {
			f.speechTimeoutSeconds = d.speechTimeoutSeconds
		}
		if f.extension == "" {
			f.extension = d.extension
		}
	}
	if err := f.checkForMode("", mode); err != nil {
		// The destination's own options passed with its own mode: the
		// request's mode is what makes them impossible.
		if e := AsError(err); e != nil && !requestGave(r, e.Param) {
			e.Param = "mode"
			e.Message = fmt.Sprintf("mode %s: this destination is configured with %s, which a blind transfer cannot do", ModeBlind, strings.SplitN(e.Message, " ", 2)[0])
		}
		return consultPlan{}, err
	}
	p := consultPlan{
		extension: f.extension, waitSpeech: isSet(f.waitSpeech), requireAccept: isSet(f.requireAccept),
		acceptPrompt: f.acceptPrompt, acceptTimeout: DefaultAcceptTimeout, speechTimeout: DefaultHumanSpeechTimeout,
	}
	if p.acceptPrompt == "" {
		p.acceptPrompt = DefaultAcceptPrompt
	}
	if f.acceptTimeoutSeconds != 0 {
		p.acceptTimeout = time.Duration(f.acceptTimeoutSeconds) * time.Second
	}
	if f.speechTimeoutSeconds != 0 {
		p.speechTimeout = time.Duration(f.speechTimeoutSeconds) * time.Second
	}
	return p, nil
}

// requestGave reports whether the request itself set the field param.
func requestGave(r consultFields, param string) bool {
	switch param {
	case "require_accept":
		return isSet(r.requireAccept)
	case "wait_for_human_speech":
		return isSet(r.waitSpeech)
	case "extension":
		return r.extension != ""
	}
	return false
}

// consultOutcome is how the consultation of the human ended.
type consultOutcome struct {
	ok bool
	// status is the attempt's status when not ok: declined, or failed
	// when the human's call went away.
	status string
	reason string
}

// consult carries out the plan's steps on the human's answered call legID:
// the extension, the wait for the human's voice, the summary, and the
// accept prompt and key. It returns ok when the caller may be put
// through. It holds no lock: it waits on the network and plays audio.
func (m *Calls) consult(ctx context.Context, lc *liveCall, legID string, plan attemptPlan, summary string, voice *TTSConfig) consultOutcome {
	c := plan.consult
	lm := m.legMedia
	var signals <-chan LegSignal
	if lm != nil && (c.waitSpeech || c.requireAccept) {
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		ch, err := lm.Listen(lctx, legID)
		if err != nil {
			m.logger.WarnContext(ctx, "cannot listen to the transfer leg", "call_id", lc.call.ID, "leg_call_id", legID, "err", err)
		} else {
			signals = ch
		}
	}
	if c.extension != "" {
		if lm == nil {
			m.logger.WarnContext(ctx, "no media: the extension is not dialled", "call_id", lc.call.ID, "leg_call_id", legID)
		} else if err := lm.SendDigits(ctx, legID, c.extension); err != nil {
			m.logger.WarnContext(ctx, "dial the extension", "call_id", lc.call.ID, "leg_call_id", legID, "err", err)
			if HasCode(err, CodeCallNotActive) {
				return consultOutcome{status: TransferFailed, reason: "the destination hung up before the extension was dialled"}
			}
		} else {
			m.logger.InfoContext(ctx, "extension dialled", "call_id", lc.call.ID, "leg_call_id", legID, "extension", c.extension)
		}
		// What was heard while the extension was dialled (a PBX's
		// prompt) is not the human speaking.
		drain(signals)
	}
	var early string // a key pressed before the prompt ended
	if c.waitSpeech {
		heard, key, gone := waitForSpeech(ctx, signals, c.speechTimeout)
		switch {
		case gone:
			return consultOutcome{status: TransferFailed, reason: "the destination hung up before the caller was put through"}
		case heard:
			m.logger.InfoContext(ctx, "the human spoke first", "call_id", lc.call.ID, "leg_call_id", legID)
		default:
			m.logger.InfoContext(ctx, "the human did not speak; telling them who is calling anyway", "call_id", lc.call.ID, "leg_call_id", legID, "waited", c.speechTimeout)
		}
		early = key
	}
	if !c.requireAccept {
		m.say(ctx, legID, summary, voice)
		return consultOutcome{ok: true}
	}
	if signals == nil {
		return consultOutcome{status: AttemptDeclined, reason: "the human could not be asked to accept: the server has no media on their call"}
	}
	if early == "" {
		// A key pressed while the summary or prompt plays answers at
		// once: the human need not hear it to the end.
		pctx, stop := context.WithCancel(ctx)
		keys := make(chan string, 1)
		go func() {
			defer close(keys)
			for {
				select {
				case s, ok := <-signals:
					if !ok {
						return
					}
					if s.Digit != "" {
						keys <- s.Digit
						stop()
						return
					}
				case <-pctx.Done():
					return
				}
			}
		}()
		m.say(pctx, legID, summary, voice)
		m.say(pctx, legID, c.acceptPrompt, voice)
		stop()
		early = <-keys
	}
	key, gone := early, false
	if key == "" {
		key, gone = waitForKey(ctx, signals, c.acceptTimeout)
	}
	switch {
	case key == AcceptKey:
		m.logger.InfoContext(ctx, "the human accepted the call", "call_id", lc.call.ID, "leg_call_id", legID)
		return consultOutcome{ok: true}
	case key != "":
		return consultOutcome{status: AttemptDeclined, reason: fmt.Sprintf("the human declined the call (pressed %s)", key)}
	case gone:
		return consultOutcome{status: AttemptDeclined, reason: "the human hung up without accepting the call"}
	case ctx.Err() != nil:
		return consultOutcome{status: TransferFailed, reason: "the transfer ended"}
	}
	return consultOutcome{status: AttemptDeclined, reason: fmt.Sprintf("the human pressed no key within %s", c.acceptTimeout)}
}

// drain discards the signals already queued.
func drain(signals <-chan LegSignal) {
	for {
		select {
		case _, ok := <-signals:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// waitForSpeech waits for the start of speech; a key pressed meanwhile
// ends the wait too and is returned. gone is set when the call's media
// ended.
func waitForSpeech(ctx context.Context, signals <-chan LegSignal, timeout time.Duration) (heard bool, key string, gone bool) {
	if signals == nil {
		return false, "", false
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case s, ok := <-signals:
			switch {
			case !ok:
				return false, "", true
			case s.Speech:
				return true, "", false
			case s.Digit != "":
				return false, s.Digit, false
			}
		case <-t.C:
			return false, "", false
		case <-ctx.Done():
			return false, "", false
		}
	}
}

// waitForKey waits for the first key; gone is set when the call's media
// ended first.
func waitForKey(ctx context.Context, signals <-chan LegSignal, timeout time.Duration) (key string, gone bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case s, ok := <-signals:
			if !ok {
				return "", true
			}
			if s.Digit != "" {
				return s.Digit, false
			}
		case <-t.C:
			return "", false
		case <-ctx.Done():
			return "", false
		}
	}
}
