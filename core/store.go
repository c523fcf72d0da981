package core

import (
	"context"
	"time"
)

// Store persists the configuration objects. An implementation returns
// *Error values with CodeNotFound and CodeConflict where this interface says
// so, and wraps anything else with context. Secrets (Assistant.WebhookSecret,
// Trunk.Password) are handed over and returned in the clear; keeping them
// encrypted at rest is the store's job.
//
// Every method that changes state does so atomically: a failed call changes
// nothing.
type Store interface {
	// CreateAssistant stores a new assistant.
	CreateAssistant(ctx context.Context, a Assistant) error
	// GetAssistant returns the assistant, or CodeNotFound.
	GetAssistant(ctx context.Context, id string) (Assistant, error)
	// ListAssistants returns a page of assistants in creation order, and
	// how many there are in all.
	ListAssistants(ctx context.Context, p Page) ([]Assistant, int, error)
	// UpdateAssistant replaces the stored assistant with a.ID, or returns
	// CodeNotFound.
	UpdateAssistant(ctx context.Context, a Assistant) error
	// DeleteAssistant removes the assistant. When a phone number still
	// uses it, it returns CodeConflict unless force is set, in which case
	// those numbers are detached (assistant_id null) in the same change.
	DeleteAssistant(ctx context.Context, id string, force bool) error

	CreateTrunk(ctx context.Context, t Trunk) error
	GetTrunk(ctx context.Context, id string) (Trunk, error)
	ListTrunks(ctx context.Context, p Page) ([]Trunk, int, error)
	UpdateTrunk(ctx context.Context, t Trunk) error
	// DeleteTrunk removes the trunk; a trunk still a number's
	// transfer_trunk_id is a CodeConflict unless force detaches it.
	DeleteTrunk(ctx context.Context, id string, force bool) error

	// CreatePhoneNumber stores a new number. A number already registered
	// is CodeConflict; an assistant or trunk id that does not exist is
	// CodeNotFound with Param naming the field.
	CreatePhoneNumber(ctx context.Context, n PhoneNumber) error
	GetPhoneNumber(ctx context.Context, id string) (PhoneNumber, error)
	// FindPhoneNumber looks a number up by its E.164 form.
	FindPhoneNumber(ctx context.Context, e164 string) (PhoneNumber, error)
	ListPhoneNumbers(ctx context.Context, p Page) ([]PhoneNumber, int, error)
	// UpdatePhoneNumber replaces the stored number, with the same checks
	// as CreatePhoneNumber.
	UpdatePhoneNumber(ctx context.Context, n PhoneNumber) error
	DeletePhoneNumber(ctx context.Context, id string) error

	Close() error
}

// CallStore persists calls and their transfers.
type CallStore interface {
	// CreateCall stores a new call, and the webhook deliveries announcing
	// it in the same transaction.
	CreateCall(ctx context.Context, c Call, out ...WebhookDelivery) error
	// UpdateCall replaces the stored call's own fields (not its
	// transfers), or returns CodeNotFound; out as for CreateCall.
	UpdateCall(ctx context.Context, c Call, out ...WebhookDelivery) error
	// GetCall returns the call with its transfers (oldest first), or
	// CodeNotFound.
	GetCall(ctx context.Context, id string) (Call, error)
	// ListCalls returns a page of calls, newest first, with their
	// transfers, and the total matching the filter.
	ListCalls(ctx context.Context, f CallFilter) ([]Call, int, error)
	// SaveTransfer inserts the transfer or replaces the stored one with
	// the same id, steps included; out as for CreateCall.
	SaveTransfer(ctx context.Context, t Transfer, out ...WebhookDelivery) error
	// EndLiveCalls marks every call still ringing, dialing or in progress
	// as ended with the given reason: what a restart finds of the calls a
	// stopped process held.
	EndLiveCalls(ctx context.Context, reason string, at time.Time) (int, error)
}
