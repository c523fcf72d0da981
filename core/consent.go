package core

import (
	"context"
	"strings"
	"time"
)

// RecordingConsent is VoiceDock's recording_consent: inbound callers hear
// the message and press 1 to agree or 2 to decline.
type RecordingConsent struct {
	Enabled bool   `json:"enabled" jsonschema:"description=Ask for consent on inbound calls"`
	Message string `json:"message,omitempty" jsonschema:"description=What the caller hears (a default asks to press 1 or 2),maxLength=1000"`
}

// DefaultConsentTimeout is how long the caller has to press a key after
// the consent message; the message is said twice.
const DefaultConsentTimeout = 10 * time.Second

const defaultConsentMessage = "This call may be recorded and transcribed. Press 1 to agree, or 2 to decline."

// askConsentLocked starts asking an inbound call's caller for recording
// consent when its assistant wants it, and reports whether it did; lc.mu
// is held. Until the caller presses 1 nothing they say is transcribed;
// 2, or no key after the message was said twice, ends the call. On 1 the
// call goes on as any other: the first message is said.
func (m *Calls) askConsentLocked(lc *liveCall) bool {
	a := lc.assistant
	if a == nil || a.RecordingConsent == nil || !a.RecordingConsent.Enabled {
		return false
	}
	id, voice, first := lc.call.ID, voiceLocked(lc), lc.call.FirstMessage
	text := strings.TrimSpace(a.RecordingConsent.Message)
	if text == "" {
		text = defaultConsentMessage
	}
	if m.hear != nil {
		m.hear.mu.Lock()
		m.hear.pending[id] = true
		m.hear.mu.Unlock()
	}
	wait := m.cfg.ConsentTimeout
	if wait <= 0 {
		wait = DefaultConsentTimeout
	}
	m.work.Go(func() { m.consent(id, text, first, voice, wait) })
	return true
}

func (m *Calls) consent(id, text, first string, voice *TTSConfig, wait time.Duration) {
	ctx := m.bg
	for try := 0; try < 2; try++ {
		switch key := m.askOnce(ctx, id, text, voice, wait); key {
		case "1":
			if m.hear != nil {
				m.hear.mu.Lock()
				delete(m.hear.pending, id)
				m.hear.mu.Unlock()
			}
			m.logger.InfoContext(ctx, "recording consent given", "call_id", id)
			if strings.TrimSpace(first) != "" {
				pctx, cancel := context.WithTimeout(ctx, maxPlayback)
				if err := m.speak(pctx, id, Utterance{Text: first, Voice: voice}); err != nil && !HasCode(err, CodeCallNotActive) {
					m.logger.Warn("first message not played", "call_id", id, "err", err)
				}
				cancel()
			}
			return
		case "2":
			m.logger.InfoContext(ctx, "recording consent declined: hanging up", "call_id", id)
			m.hangupAsync(id)
			return
		case "ended":
			return
		}
	}
	m.logger.InfoContext(ctx, "no recording consent: hanging up", "call_id", id)
	m.hangupAsync(id)
}

// askOnce says the consent message and waits for 1 or 2: the key, ""
// after wait, or "ended" when the call ended.
func (m *Calls) askOnce(ctx context.Context, id, text string, voice *TTSConfig, wait time.Duration) string {
	// Subscribed before the message: a caller who knows the drill may
	// press the key while it plays.
	sub := m.bus.SubscribeCall(id, func(e Event) bool {
		return e.Type == EventDigit && e.Digit != nil && (e.Digit.Digit == "1" || e.Digit.Digit == "2") ||
			e.Type == EventCallStatus && !e.Call.Live()
	})
	defer sub.Close()
	if m.get(id) == nil {
		return "ended"
	}
	pctx, cancel := context.WithTimeout(ctx, maxPlayback)
	// Not recorded as a line: before consent nothing is.
	err := m.media.Say(pctx, id, Utterance{Text: text, Voice: voice})
	cancel()
	if HasCode(err, CodeCallNotActive) {
		return "ended"
	}
	if err != nil {
		m.logger.Warn("consent message not played", "call_id", id, "err", err)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case e, ok := <-sub.C:
		if !ok || e.Digit == nil {
			return "ended"
		}
		return e.Digit.Digit
	case <-t.C:
		return ""
	case <-ctx.Done():
		return "ended"
	}
}

// awaitingConsent reports whether the call's caller has not agreed yet.
func (m *Calls) awaitingConsent(id string) bool {
	if m.hear == nil {
		return false
	}
	m.hear.mu.Lock()
	defer m.hear.mu.Unlock()
	return m.hear.pending[id]
}
