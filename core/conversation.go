package core

import "time"

// Conversation events: what was said on a call, and the keys the caller
// pressed. Like every event they are stored before they are published.
const (
	EventTranscript = "call.transcript"
	EventDigit      = "call.digit"
)

// Roles of a transcript line, named as the VoiceDock API's messages[] name them.
const (
	RoleUser      = "user"      // the caller
	RoleAssistant = "assistant" // the server's own speech
)

// TranscriptLine is one line of a call's conversation: a stretch of the caller's
// speech turned into text, or a line the server spoke.
type TranscriptLine struct {
	ID        string    `json:"id"`
	CallID    string    `json:"call_id"`
	Role      string    `json:"role"`
	Content   string    `json:"content"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
}

// Digit is one DTMF key the caller pressed.
type Digit struct {
	ID     string `json:"id"`
	CallID string `json:"call_id"`
	// Digit is one of 0-9, *, #, A-D.
	Digit string `json:"digit"`
	// Source is how it arrived: "rfc4733" (RTP telephone-event) or
	// "sip-info" (application/dtmf-relay).
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}
