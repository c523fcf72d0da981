package core

import "time"

// Transfer statuses. requested -> accepted -> trying -> ringing -> one of
// completed, failed, canceled; steps may be skipped, never reversed.
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
	ID              string         `json:"id" jsonschema:"required"`
	CallID          string         `json:"call_id" jsonschema:"required"`
	Destination     string         `json:"destination" jsonschema:"required,description=The E.164 number or SIP URI"`
	DestinationType string         `json:"destination_type" jsonschema:"required,enum=number,enum=sip"`
	ReferTo         string         `json:"refer_to,omitempty" jsonschema:"description=The SIP URI the REFER pointed at"`
	Message         string         `json:"message,omitempty" jsonschema:"description=Message for the caller before the transfer (stored; spoken once media lands)"`
	Status          string         `json:"status" jsonschema:"required,enum=requested,enum=accepted,enum=trying,enum=ringing,enum=completed,enum=failed,enum=canceled"`
	SIPStatus       int            `json:"sip_status,omitempty" jsonschema:"description=The last SIP status the far side reported"`
	Reason          string         `json:"reason,omitempty" jsonschema:"description=Why the transfer failed or was canceled"`
	RequestedBy     string         `json:"requested_by,omitempty" jsonschema:"description=The API key name or transport that asked for it"`
	ConfirmedBy     string         `json:"confirmed_by,omitempty" jsonschema:"description=How the user confirmed an ad-hoc destination (elicitation: asked through the MCP client); absent when the transfer policy alone allowed it"`
	Steps           []TransferStep `json:"steps" jsonschema:"required"`
	CreatedAt       time.Time      `json:"created_at" jsonschema:"required"`
	UpdatedAt       time.Time      `json:"updated_at" jsonschema:"required"`
	EndedAt         *time.Time     `json:"ended_at,omitempty"`
}

// TransferStep is one recorded step of a transfer.
type TransferStep struct {
	Status    string    `json:"status" jsonschema:"required"`
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
