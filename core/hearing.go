package core

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Webhook events of the conversation; the VoiceDock API names none for a
// live transcript, so these are this server's additions, named as the
// voice platforms that send them name them.
const (
	WebhookConversationUpdate = "conversation-update"
	WebhookDTMF               = "dtmf"
)

// Digit sources.
const (
	DigitRFC4733 = "rfc4733"
	DigitSIPInfo = "sip-info"
)

// ConversationStore persists what was said on calls and the keys the
// callers pressed. Like CallStore, it writes the webhook deliveries in out
// in the same transaction as the row.
type ConversationStore interface {
	// AddTranscriptLine stores one line of a call's conversation.
	AddTranscriptLine(ctx context.Context, l TranscriptLine, out ...WebhookDelivery) error
	// AddDigit stores one key press.
	AddDigit(ctx context.Context, d Digit, out ...WebhookDelivery) error
	// ListTranscript returns a page of a call's lines, oldest first, and
	// how many there are.
	ListTranscript(ctx context.Context, callID string, p Page) ([]TranscriptLine, int, error)
	// ListDigits returns a call's key presses, oldest first (at most
	// limit).
	ListDigits(ctx context.Context, callID string, limit int) ([]Digit, error)
}

// Transcriber turns a stretch of a caller's speech into text. The speech
// package implements it with its speech-to-text engines.
type Transcriber interface {
	// Transcribe returns what was said in pcm (8 kHz mono samples);
	// language is the assistant's stt_config.language ("" when unset).
	Transcribe(ctx context.Context, pcm []int16, language string) (string, error)
}

// maxTranscriptLines bounds the lines an end-of-call report carries.
const maxTranscriptLines = 500

// hearing is the conversation state the call manager keeps for live
// calls: the lines so far, for the end-of-call report and get_call.
type hearing struct {
	store ConversationStore
	stt   Transcriber

	mu    sync.Mutex
	lines map[string][]Message // by call id, while the call is live
	// pending are the calls whose caller has not yet agreed to be
	// recorded (recording_consent).
	pending map[string]bool
}

// SetConversation attaches the conversation's store and the caller's
// speech-to-text (nil: calls are not transcribed, and the server's own
// lines are still recorded).
func (m *Calls) SetConversation(store ConversationStore, stt Transcriber) {
	m.hear = &hearing{store: store, stt: stt, lines: map[string][]Message{}, pending: map[string]bool{}}
}

// Transcribing reports whether callers' speech is turned into text.
func (m *Calls) Transcribing() bool { return m.hear != nil && m.hear.stt != nil }

// CallerSpoke transcribes one utterance of the caller, heard between
// start and end, and records it on the call. The media adapter calls it
// for each stretch of speech its voice activity detection finds, one at a
// time per call, so a call's lines are stored in the order spoken.
func (m *Calls) CallerSpoke(ctx context.Context, callID string, pcm []int16, start, end time.Time) {
	if !m.Transcribing() {
		return
	}
	lc := m.get(callID)
	if lc == nil {
		return
	}
	lc.mu.Lock()
	status, language := lc.call.Status, ""
	if a := lc.assistant; a != nil && a.STTConfig != nil {
		language = a.STTConfig.Language
	}
	lc.mu.Unlock()
	if status != CallInProgress || m.awaitingConsent(callID) {
		return
	}
	text, err := m.hear.stt.Transcribe(ctx, pcm, language)
	if err != nil {
		m.logger.WarnContext(ctx, "speech-to-text failed", "call_id", callID, "err", err)
		return
	}
	text = strings.TrimSpace(text)
	m.logger.DebugContext(ctx, "utterance transcribed", "call_id", callID, "duration", end.Sub(start), "text", text)
	if text == "" {
		return
	}
	m.recordLine(ctx, lc, RoleUser, text, start, end)
}

// DigitPressed records a DTMF key the caller pressed.
func (m *Calls) DigitPressed(ctx context.Context, callID, digit, source string) {
	if m.hear == nil || !validDigit(digit) {
		return
	}
	lc := m.get(callID)
	if lc == nil {
		return
	}
	id, err := NewID()
	if err != nil {
		m.logger.ErrorContext(ctx, "digit id", "err", err)
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if !lc.call.Live() {
		return
	}
	d := Digit{ID: id, CallID: callID, Digit: digit, Source: source, At: m.timestamp()}
	out := m.deliveries(lc, WebhookDTMF, d.At, map[string]any{"digit": d})
	m.storeRowLocked(ctx, lc, "digit", keptRow{Digit: &d, Webhooks: out})
	m.logger.InfoContext(ctx, "caller pressed a key", "call_id", callID, "digit", digit, "source", source)
	m.bus.Publish(Event{Type: EventDigit, At: d.At, Call: snapshot(lc.call), Digit: &d})
}

func validDigit(d string) bool {
	return len(d) == 1 && strings.Contains("0123456789*#ABCD", d)
}

// recordSpoken records a line the server said on a call (first_message,
// say_call, a transfer's or hang-up's message).
func (m *Calls) recordSpoken(ctx context.Context, callID, text string, start, end time.Time) {
	if m.hear == nil {
		return
	}
	if lc := m.get(callID); lc != nil {
		m.recordLine(ctx, lc, RoleAssistant, text, start, end)
	}
}

// recordLine stores a line and then publishes it.
func (m *Calls) recordLine(ctx context.Context, lc *liveCall, role, text string, start, end time.Time) {
	id, err := NewID()
	if err != nil {
		m.logger.ErrorContext(ctx, "transcript line id", "err", err)
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	l := TranscriptLine{
		ID: id, CallID: lc.call.ID, Role: role, Content: text,
		StartedAt: start.UTC().Truncate(time.Millisecond), EndedAt: end.UTC().Truncate(time.Millisecond),
	}
	h := m.hear
	h.mu.Lock()
	msgs := append(h.lines[l.CallID], Message{Role: role, Content: text})
	if len(msgs) > maxTranscriptLines {
		msgs = msgs[len(msgs)-maxTranscriptLines:]
	}
	h.lines[l.CallID] = msgs
	messages := append([]Message(nil), msgs...)
	h.mu.Unlock()
	at := m.timestamp()
	out := m.deliveries(lc, WebhookConversationUpdate, at, map[string]any{"line": l, "messages": messages})
	m.storeRowLocked(ctx, lc, "transcript line", keptRow{Line: &l, Webhooks: out})
	m.bus.Publish(Event{Type: EventTranscript, At: at, Call: snapshot(lc.call), Line: &l})
}

// messagesOf returns a live call's conversation so far as messages[].
func (m *Calls) messagesOf(callID string) []Message {
	if m.hear == nil {
		return nil
	}
	m.hear.mu.Lock()
	defer m.hear.mu.Unlock()
	return append([]Message(nil), m.hear.lines[callID]...)
}

// forgetLines drops an ended call's lines from memory (they stay stored).
func (m *Calls) forgetLines(callID string) {
	if m.hear == nil {
		return
	}
	m.hear.mu.Lock()
	delete(m.hear.lines, callID)
	delete(m.hear.pending, callID)
	m.hear.mu.Unlock()
}

// storedMessages reads an ended call's conversation back from the store.
func (m *Calls) storedMessages(ctx context.Context, callID string) []Message {
	if m.hear == nil {
		return nil
	}
	lines, _, err := m.hear.store.ListTranscript(ctx, callID, Page{Limit: MaxPageLimit})
	if err != nil {
		m.logger.WarnContext(ctx, "read transcript", "call_id", callID, "err", err)
		return nil
	}
	return linesToMessages(lines)
}

func linesToMessages(lines []TranscriptLine) []Message {
	var out []Message
	for _, l := range lines {
		out = append(out, Message{Role: l.Role, Content: l.Content})
	}
	return out
}

// speak plays u to a call through the media and, once it has been
// played, records it as the assistant's line: every path the server
// speaks by (first_message, say_call, a transfer's or hang-up's message)
// comes through here. The call's lock must not be held.
func (m *Calls) speak(ctx context.Context, callID string, u Utterance) error {
	start := m.now()
	u.BargeIn = m.get(callID) != nil
	err := m.media.Say(ctx, callID, u)
	if err == nil && strings.TrimSpace(u.Text) != "" && u.AudioURL == "" {
		m.recordSpoken(ctx, callID, u.Text, start, m.now())
	}
	return err
}
