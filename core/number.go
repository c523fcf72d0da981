package core

import "time"

// PhoneNumber is a stored phone number.
type PhoneNumber struct {
	ID string `json:"id" jsonschema:"required,description=Opaque time-ordered id (UUIDv7)"`
	PhoneNumberConfig
	CreatedAt time.Time `json:"created_at" jsonschema:"required,description=Read-only creation time (UTC)"`
	UpdatedAt time.Time `json:"updated_at" jsonschema:"required,description=Read-only time of the last change (UTC)"`
}

// PhoneNumberConfig is a number whose calls reach this server: its
// assistant answers them, its transfer trunk carries their transfers.
type PhoneNumberConfig struct {
	PhoneNumber     string  `json:"phone_number" jsonschema:"required,description=E.164 number,pattern=^\\+[1-9][0-9]{1\\,14}$"`
	Name            string  `json:"name,omitempty" jsonschema:"description=Display name,maxLength=100"`
	AssistantID     *string `json:"assistant_id" jsonschema:"description=Assistant answering this number's calls; null when unassigned (calls are then not handled),oneof_type=string;null"`
	TransferTrunkID *string `json:"transfer_trunk_id" jsonschema:"description=Trunk that transfers of this number's calls go through; null for none,oneof_type=string;null"`
}
