package core

import "time"

// Call statuses, as the VoiceDock API names them.
const (
	CallRinging     = "ringing"
	CallInProgress  = "in-progress"
	CallTransferred = "transferred"
	CallEnded       = "ended"
	CallFailed      = "failed"
	CallRejected    = "rejected"
	CallDialing     = "dialing"
)

// Call directions.
const (
	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
)

// End reasons.
const (
	EndCallerHangup    = "user_hangup"     // the caller (remote party) hung up
	EndAssistantHangup = "assistant_ended" // end_call, or the server ended it
	EndTransferred     = "transferred"     // a transfer completed and we left the call
	EndCanceled        = "canceled"        // the caller gave up before the answer
	EndShutdown        = "server_shutdown" // the server stopped
	EndFailed          = "failed"          // signalling failed
	EndRejected        = "rejected"        // refused before the answer
	EndNoAnswer        = "no_answer"       // an outbound call was not answered
)

// Call is one phone call the server holds.
type Call struct {
	ID              string     `json:"id" jsonschema:"required,description=Opaque call id"`
	Direction       string     `json:"direction" jsonschema:"required,enum=inbound,enum=outbound"`
	Status          string     `json:"status" jsonschema:"required,enum=dialing,enum=ringing,enum=in-progress,enum=transferred,enum=ended,enum=failed,enum=rejected"`
	CallerPhone     string     `json:"caller_phone,omitempty" jsonschema:"description=The caller's number (or SIP user)"`
	AgentPhone      string     `json:"agent_phone,omitempty" jsonschema:"description=The assistant's phone number"`
	NumberID        string     `json:"number_id,omitempty"`
	AssistantID     string     `json:"assistant_id,omitempty"`
	StartedAt       *time.Time `json:"started_at,omitempty" jsonschema:"description=When the call was answered"`
	EndedAt         *time.Time `json:"ended_at,omitempty"`
	DurationSeconds int        `json:"duration_seconds,omitempty"`
	EndReason       string     `json:"end_reason,omitempty"`
	Error           string     `json:"error,omitempty" jsonschema:"description=Why the call failed or was rejected"`
	FirstMessage    string     `json:"first_message,omitempty" jsonschema:"description=What the assistant says when it answers this call (its first_message or an assistant-request override)"`
	CreatedAt       time.Time  `json:"created_at" jsonschema:"required"`
	UpdatedAt       time.Time  `json:"updated_at" jsonschema:"required"`
	Transfers       []Transfer `json:"transfers,omitempty"`
	// Messages is the conversation (get_call): what the caller said and
	// what the server said, oldest first; get_transcript has the times.
	Messages []Message `json:"messages,omitempty" jsonschema:"description=The conversation so far: role user is the caller\\, assistant the server's speech (get_transcript pages it with times)"`

	// Signalling facts the routing rules need; not shown to clients.
	SIPCallID  string `json:"-"`
	RemoteAddr string `json:"-"` // host:port the call came from
	TrunkID    string `json:"-"` // trunk of an outbound call
	// Node is the node holding the call when several share the store
	// (NodeStore): CreateCall records it; it changes only by
	// NodeStore.TakeCall, and GetCall need not return it. "" on a
	// single node.
	Node string `json:"-"`
}

// Live reports whether the call is still up.
func (c Call) Live() bool {
	return c.Status == CallRinging || c.Status == CallInProgress || c.Status == CallDialing
}

// CallFilter selects calls to list.
type CallFilter struct {
	Status string
	Page   Page
}
