package core

import "time"

// Transfer statuses. requested -> accepted -> trying -> ringing -> one of
// completed, failed, canceled; steps may be skipped, never reversed within
// one attempt. When an attempt fails and a fallback destination is left,
// the transfer starts again at requested for the next attempt.
const (
	TransferRequested = "requested"
	TransferAccepted  = "accepted"
	TransferTrying    = "trying"
	TransferRinging   = "ringing"
	TransferCompleted = "completed"
	TransferFailed    = "failed"
	TransferCanceled  = "canceled"
)

// Transfer is one attempt to move a call's caller to a destination.
type Transfer struct {
	ID              string            `json:"id" jsonschema:"required"`
	CallID          string            `json:"call_id" jsonschema:"required"`
	Destination     string            `json:"destination" jsonschema:"required,description=The E.164 number or SIP URI"`
	DestinationType string            `json:"destination_type" jsonschema:"required,enum=number,enum=sip"`
	ReferTo         string            `json:"refer_to,omitempty" jsonschema:"description=The SIP URI the REFER pointed at"`
	Message         string            `json:"message,omitempty" jsonschema:"description=Message for the caller before the transfer (stored; spoken once media lands)"`
	Status          string            `json:"status" jsonschema:"required,enum=requested,enum=accepted,enum=trying,enum=ringing,enum=completed,enum=failed,enum=canceled"`
	SIPStatus       int               `json:"sip_status,omitempty" jsonschema:"description=The last SIP status the far side reported"`
	Reason          string            `json:"reason,omitempty" jsonschema:"description=Why the transfer failed or was canceled"`
	RequestedBy     string            `json:"requested_by,omitempty" jsonschema:"description=The API key name or transport that asked for it"`
	ConfirmedBy     string            `json:"confirmed_by,omitempty" jsonschema:"description=How the user confirmed an ad-hoc destination (elicitation: asked through the MCP client); absent when the transfer policy alone allowed it"`
	Mode            string            `json:"mode,omitempty" jsonschema:"description=How the current attempt is made: blind\\, warm or bridge,enum=blind,enum=warm,enum=bridge"`
	Summary         string            `json:"summary,omitempty" jsonschema:"description=What the human is told (warm) and sent as X-Transfer-Summary"`
	Attempt         int               `json:"attempt,omitempty" jsonschema:"description=Which of attempts is current (1-based)"`
	Attempts        []TransferAttempt `json:"attempts,omitempty" jsonschema:"description=The destinations in the order they are tried: destination\\, then fallback_destinations; each with its outcome"`
	Steps           []TransferStep    `json:"steps" jsonschema:"required"`
	CreatedAt       time.Time         `json:"created_at" jsonschema:"required"`
	UpdatedAt       time.Time         `json:"updated_at" jsonschema:"required"`
	EndedAt         *time.Time        `json:"ended_at,omitempty"`
}

// TransferStep is one recorded step of a transfer.
type TransferStep struct {
	Status    string    `json:"status" jsonschema:"required"`
	Attempt   int       `json:"attempt,omitempty" jsonschema:"description=The attempt the step belongs to (1-based)"`
	SIPStatus int       `json:"sip_status,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at" jsonschema:"required"`
}

// Final reports whether the transfer has ended.
func (t Transfer) Final() bool {
	return t.Status == TransferCompleted || t.Status == TransferFailed || t.Status == TransferCanceled
}

// transferRank orders the statuses so that a late or duplicate NOTIFY
// never moves a transfer backwards.
func transferRank(status string) int {
	switch status {
	case TransferRequested:
		return 0
	case TransferAccepted:
		return 1
	case TransferTrying:
		return 2
	case TransferRinging:
		return 3
	default:
		return 4
	}
}

// TransferAttempt is one destination of a transfer and what became of it.
type TransferAttempt struct {
	Destination     string   `json:"destination" jsonschema:"required"`
	DestinationType string   `json:"destination_type" jsonschema:"required,enum=number,enum=sip"`
	Mode            string   `json:"mode" jsonschema:"required,enum=blind,enum=warm,enum=bridge"`
	ReferTo         string   `json:"refer_to,omitempty" jsonschema:"description=The SIP URI the REFER or the server's INVITE went to"`
	CallerID        string   `json:"caller_id,omitempty" jsonschema:"description=The number presented on the server's own call (warm\\, bridge)"`
	SIPHeaders      []string `json:"sip_headers,omitempty" jsonschema:"description=Names of the headers sent to the destination"`
	LegCallID       string   `json:"leg_call_id,omitempty" jsonschema:"description=The server's own call to the destination (warm\\, bridge): the second leg"`
	LegStatus       string   `json:"leg_status,omitempty" jsonschema:"description=Where that call is: dialing\\, answered\\, ended or failed,enum=dialing,enum=answered,enum=ended,enum=failed"`
	Bridged         bool     `json:"bridged,omitempty" jsonschema:"description=The server relays the audio between the caller and the destination"`
	// How it was rung (ring_timeout_seconds, on_failure, hold_audio_url)
	// and who answered (voicemail_action, answered_by).
	RingTimeoutSeconds int        `json:"ring_timeout_seconds,omitempty" jsonschema:"description=Seconds the destination could ring: the server's own call is CANCELed then (warm\\, bridge)\\, or a blind attempt with no final NOTIFY by then fails"`
	OnFailure          string     `json:"on_failure,omitempty" jsonschema:"description=What follows when it does not answer\\, is busy\\, declines or a voicemail box answers with voicemail_action stop,enum=next,enum=back_to_assistant,enum=end_call"`
	HoldAudio          string     `json:"hold_audio,omitempty" jsonschema:"description=What the caller hears while the destination is called (warm\\, bridge): ringback or the hold_audio_url"`
	VoicemailAction    string     `json:"voicemail_action,omitempty" jsonschema:"description=What this attempt does when a voicemail box answers (warm\\, bridge): stop or leave_message; absent when it listens for none,enum=stop,enum=leave_message"`
	AnsweredBy         string     `json:"answered_by,omitempty" jsonschema:"description=Who answered the server's own call by answering-machine detection: human\\, machine or unknown (nothing decided in time: treated as a human),enum=human,enum=machine,enum=unknown"`
	Status             string     `json:"status" jsonschema:"required,description=declined: the human did not accept the call; voicemail: a voicemail box answered (stopped\\, or a message was left),enum=requested,enum=accepted,enum=trying,enum=ringing,enum=completed,enum=failed,enum=canceled,enum=declined,enum=voicemail"`
	SIPStatus          int        `json:"sip_status,omitempty"`
	Reason             string     `json:"reason,omitempty"`
	StartedAt          *time.Time `json:"started_at,omitempty"`
	EndedAt            *time.Time `json:"ended_at,omitempty"`
}

// Leg statuses of a transfer attempt's own call.
const (
	LegDialing  = "dialing"
	LegAnswered = "answered"
	LegEnded    = "ended"
	LegFailed   = "failed"
)
