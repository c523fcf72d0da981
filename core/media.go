package core

import "context"

// Utterance is something the server says on a call.
type Utterance struct {
	// Text is synthesised with Voice.
	Text string
	// AudioURL, when set, is a pre-recorded WAV (a local path or an https
	// URL) played instead of Text.
	AudioURL string
	// Voice is the speaking assistant's tts_config; nil for the server's
	// default voice.
	Voice *TTSConfig
	// BargeIn lets the caller talking stop it: set for what is said to a
	// caller, not to the human on a transfer's own call.
	BargeIn bool
}

// BridgeStats counts the RTP packets a bridge relayed each way.
type BridgeStats struct {
	AToB, BToA int
}

// Media is what the core asks of a call's audio. An adapter (RTP sessions
// in the sip package with a speech engine) implements it; the core never
// sees a packet.
type Media interface {
	// Say plays u to the call and returns once it has been played to the
	// end (the last packet sent), ctx ends, or the call ends.
	Say(ctx context.Context, callID string, u Utterance) error
	// Hold plays hold audio to the call until stop is called or the call
	// ends: audioURL (a WAV, as Utterance.AudioURL) looped, or a ringback
	// tone when it is "" or cannot be played.
	Hold(ctx context.Context, callID, audioURL string) (stop func(), err error)
	// Bridge relays audio both ways between two answered calls until ctx
	// ends or either call ends.
	Bridge(ctx context.Context, a, b string) (BridgeStats, error)
}

// SetMedia attaches the calls' audio. Without it calls are silent and
// nothing is spoken.
// A media that also implements LegMedia dials extensions and hears the
// human on warm and bridge transfers.
func (m *Calls) SetMedia(media Media) {
	m.media = media
	m.legMedia, _ = media.(LegMedia)
}
