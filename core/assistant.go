package core

import (
	"encoding/json"
	"time"
)

// Assistant is a stored voice assistant: its configuration and identity.
type Assistant struct {
	ID string `json:"id" jsonschema:"required,description=Opaque time-ordered id (UUIDv7)"`
	AssistantConfig
	WebhookSecretSet bool      `json:"webhook_secret_set,omitempty" jsonschema:"description=Read-only: true when a webhook secret is stored"`
	CreatedAt        time.Time `json:"created_at" jsonschema:"required,description=Read-only creation time (UTC)"`
	UpdatedAt        time.Time `json:"updated_at" jsonschema:"required,description=Read-only time of the last change (UTC)"`
}

// AssistantConfig is what a client sets on an assistant. Field names follow
// the VoiceDock API so that an existing configuration works unchanged.
type AssistantConfig struct {
	Name               string            `json:"name" jsonschema:"required,description=Display name,minLength=1,maxLength=100"`
	BusinessName       string            `json:"business_name,omitempty" jsonschema:"description=Business name shown in call records,maxLength=100"`
	FirstMessage       string            `json:"first_message,omitempty" jsonschema:"description=What the assistant says when it answers a call,maxLength=1000"`
	IsActive           *bool             `json:"is_active,omitempty" jsonschema:"description=Whether the assistant answers calls (default true)"`
	MaxDurationSeconds int               `json:"max_duration_seconds,omitempty" jsonschema:"description=Hard cap on a call's length in seconds,minimum=0,maximum=43200"`
	LLMConfig          *LLMConfig        `json:"llm_config,omitempty" jsonschema:"description=The language model\\, its system prompt and its tools (transfer_call and end_call among them)"`
	STTConfig          *STTConfig        `json:"stt_config,omitempty" jsonschema:"description=Speech-to-text settings"`
	TTSConfig          *TTSConfig        `json:"tts_config,omitempty" jsonschema:"description=Text-to-speech settings"`
	WebhookURL         string            `json:"webhook_url,omitempty" jsonschema:"description=Where this assistant's events are POSTed (https or http),maxLength=2048"`
	WebhookSecret      string            `json:"webhook_secret,omitempty" jsonschema:"description=Write-only HMAC-SHA256 key for signing webhooks; never returned,maxLength=256"`
	WebhookEvents      []string          `json:"webhook_events,omitempty" jsonschema:"description=Events sent to webhook_url,maxItems=10,enum=assistant-request,enum=status-update,enum=transfer-update,enum=end-of-call-report,enum=tool-calls,enum=conversation-update,enum=dtmf"`
	RecordingConsent   *RecordingConsent `json:"recording_consent,omitempty" jsonschema:"description=Ask inbound callers to agree to recording first (press 1) or decline (press 2: the call ends); until they agree nothing they say is transcribed"`
	TransferPolicy     *TransferPolicy   `json:"transfer_policy,omitempty" jsonschema:"description=This assistant's own transfer rules; they can only narrow the deployment's"`
}

// LLMConfig is the assistant's language model, prompt and tools.
type LLMConfig struct {
	Provider            string    `json:"provider,omitempty" jsonschema:"description=Model provider,example=openai,maxLength=50"`
	Model               string    `json:"model,omitempty" jsonschema:"description=Model name,example=gpt-4o-mini,maxLength=100"`
	Temperature         *float64  `json:"temperature,omitempty" jsonschema:"description=Sampling temperature,minimum=0,maximum=2"`
	MaxCompletionTokens int       `json:"max_completion_tokens,omitempty" jsonschema:"minimum=0,maximum=32768"`
	Voice               string    `json:"voice,omitempty" jsonschema:"description=Voice of a realtime provider,maxLength=100"`
	Messages            []Message `json:"messages,omitempty" jsonschema:"description=The conversation's opening messages; the system prompt lives here,maxItems=50"`
	Tools               []Tool    `json:"tools,omitempty" jsonschema:"description=Tools the model may call,maxItems=20"`
}

// Message is one prompt message.
type Message struct {
	Role    string `json:"role" jsonschema:"required,enum=system,enum=user,enum=assistant"`
	Content string `json:"content" jsonschema:"required,maxLength=20000"`
}

// Tool is one entry of llm_config.tools: a built-in transfer_call or
// end_call, or a custom function the platform calls by webhook.
type Tool struct {
	Type         string          `json:"type" jsonschema:"required,description=transfer_call (alias transferCall)\\, end_call (alias endCall) or function,enum=transfer_call,enum=transferCall,enum=end_call,enum=endCall,enum=function"`
	Destinations []Destination   `json:"destinations,omitempty" jsonschema:"description=transfer_call only: the places the assistant may transfer a caller to,maxItems=20"`
	Name         string          `json:"name,omitempty" jsonschema:"description=function only: the name the model calls,maxLength=64"`
	Description  string          `json:"description,omitempty" jsonschema:"description=function only: when and how to use it,maxLength=2000"`
	Parameters   json.RawMessage `json:"parameters,omitempty" jsonschema:"description=function only: JSON Schema of the arguments"`
	URL          string          `json:"url,omitempty" jsonschema:"description=function only: webhook overriding the assistant's webhook_url,maxLength=2048"`
	Async        bool            `json:"async,omitempty" jsonschema:"description=function only: fire and forget"`
}

// Destination is a place a caller can be transferred to.
type Destination struct {
	Type        string `json:"type" jsonschema:"required,description=number for a phone number\\, sip for a SIP URI,enum=number,enum=sip"`
	Number      string `json:"number,omitempty" jsonschema:"description=E.164 phone number (type number),pattern=^\\+[1-9][0-9]{1\\,14}$"`
	SIPURI      string `json:"sip_uri,omitempty" jsonschema:"description=sip: or sips: URI (type sip),maxLength=256"`
	Description string `json:"description" jsonschema:"required,description=When to use this destination; read by the LLM,minLength=1,maxLength=1000"`
	Message     string `json:"message,omitempty" jsonschema:"description=Spoken to the caller before the transfer,maxLength=1000"`

	// How the transfer is made, for trunks and humans that need more
	// than a blind REFER: see ModeBlind, ModeWarm, ModeBridge.
	Mode       string            `json:"mode,omitempty" jsonschema:"description=blind (default: SIP REFER)\\, warm (the server calls the human first and joins them with REFER and Replaces) or bridge (the server calls the human and relays the audio: for trunks without REFER),enum=blind,enum=warm,enum=bridge"`
	SIPHeaders map[string]string `json:"sip_headers,omitempty" jsonschema:"description=Headers sent to the destination in the REFER's Refer-To or on the server's INVITE: X-... headers and User-to-User only; at most 10"`
	// Caller id, hold audio, ring timeout and what follows a failure.
	TransferRouting
	// A voicemail box answering the server's own call, told by
	// answering-machine detection on its audio.
	VoicemailAction string `json:"voicemail_action,omitempty" jsonschema:"description=What a warm or bridge transfer does when a voicemail box answers the human's phone: none (no detection\\, the default)\\, stop (hang up: as no answer\\, so on_failure applies) or leave_message (wait for the beep\\, leave the summary as a message\\, then bring the caller back; with on_failure end_call the call ends instead); refused on blind transfers,enum=none,enum=stop,enum=leave_message"`

	// What the server does on its own call to the human (warm, bridge)
	// before the caller is put through: see consultPlan.
	Extension                 string `json:"extension,omitempty" jsonschema:"description=Digits sent as RFC 4733 DTMF once the destination answers (warm and bridge): 0-9\\, *\\, # and w for a half-second pause; a blind transfer cannot carry them,pattern=^[0-9*#w]{1\\,32}$"`
	WaitForHumanSpeech        bool   `json:"wait_for_human_speech,omitempty" jsonschema:"description=Warm and bridge: after the answer (and the extension) wait for the human to speak before the summary is played; played anyway after human_speech_timeout_seconds"`
	HumanSpeechTimeoutSeconds int    `json:"human_speech_timeout_seconds,omitempty" jsonschema:"description=With wait_for_human_speech: the longest wait for the human's voice (default 5),minimum=1,maximum=30"`
	RequireAccept             bool   `json:"require_accept,omitempty" jsonschema:"description=Warm and bridge: after the summary the human hears accept_prompt and the caller is put through only when they press 1; another key\\, no key in time or a hang-up declines (the attempt is recorded declined and the next destination is tried)"`
	AcceptPrompt              string `json:"accept_prompt,omitempty" jsonschema:"description=With require_accept: what the human hears after the summary (default: Press 1 to accept the call.),maxLength=500"`
	AcceptTimeoutSeconds      int    `json:"accept_timeout_seconds,omitempty" jsonschema:"description=With require_accept: seconds the human has to press a key once the prompt has played (default 10),minimum=3,maximum=60"`

	// A recording played instead of a synthesised message: a brand's
	// own voice, or a deployment without a speech engine.
	MessageAudioURL string `json:"message_audio_url,omitempty" jsonschema:"description=A WAV file played to the caller before the transfer instead of message: an https URL (on a public address) or an absolute path inside the server's audio folder (VOICEDOCK_AUDIO_DIR),maxLength=2048"`
}

// Target returns the number or SIP URI of the destination.
func (d Destination) Target() string {
	if d.Type == DestinationSIP {
		return d.SIPURI
	}
	return d.Number
}

// STTConfig is the speech-to-text configuration.
type STTConfig struct {
	Provider string   `json:"provider,omitempty" jsonschema:"maxLength=50"`
	Model    string   `json:"model,omitempty" jsonschema:"maxLength=100"`
	Language string   `json:"language,omitempty" jsonschema:"maxLength=20"`
	Keyterms []string `json:"keyterms,omitempty" jsonschema:"maxItems=100"`
}

// TTSConfig is the text-to-speech configuration.
type TTSConfig struct {
	Provider        string   `json:"provider,omitempty" jsonschema:"maxLength=50"`
	VoiceID         string   `json:"voice_id,omitempty" jsonschema:"maxLength=100"`
	Model           string   `json:"model,omitempty" jsonschema:"maxLength=100"`
	Stability       *float64 `json:"stability,omitempty" jsonschema:"minimum=0,maximum=1"`
	SimilarityBoost *float64 `json:"similarity_boost,omitempty" jsonschema:"minimum=0,maximum=1"`
	Speed           *float64 `json:"speed,omitempty" jsonschema:"minimum=0.5,maximum=2"`
	Style           *float64 `json:"style,omitempty" jsonschema:"minimum=0,maximum=1"`
}

// Tool and destination types.
const (
	ToolTransferCall = "transfer_call"
	ToolEndCall      = "end_call"
	ToolFunction     = "function"

	DestinationNumber = "number"
	DestinationSIP    = "sip"
)

// Redacted returns the assistant as clients may see it: the webhook secret
// replaced by a flag saying whether one is set.
func (a Assistant) Redacted() Assistant {
	a.WebhookSecretSet = a.WebhookSecret != ""
	a.WebhookSecret = ""
	return a
}

// TransferDestinations returns the destinations of the assistant's
// transfer_call tools, in order.
func (a Assistant) TransferDestinations() []Destination {
	if a.LLMConfig == nil {
		return nil
	}
	var out []Destination
	for _, t := range a.LLMConfig.Tools {
		if t.Type == ToolTransferCall {
			out = append(out, t.Destinations...)
		}
	}
	return out
}
