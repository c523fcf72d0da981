package core

import (
	"context"
	"encoding/json"
	"time"
)

// Webhook delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryDead      = "dead"
)

// WebhookDelivery is one event on its way to one webhook URL. It is
// written in the same transaction as the change it announces (the
// outbox), so a crash loses no event, and it keeps its ID across retries
// so receivers can drop duplicates (X-Webhook-Id).
type WebhookDelivery struct {
	ID     string `json:"id" jsonschema:"required,description=Stable across retries; sent as X-Webhook-Id"`
	CallID string `json:"call_id,omitempty"`
	// AssistantID names whose webhook_secret signs the delivery; empty
	// means the deployment's VOICEDOCK_WEBHOOK_SECRET. The secret is looked
	// up at send time and never stored with the delivery.
	AssistantID   string          `json:"assistant_id,omitempty"`
	URL           string          `json:"url" jsonschema:"required"`
	EventType     string          `json:"event_type" jsonschema:"required,enum=status-update,enum=transfer-update,enum=end-of-call-report,enum=assistant-request,enum=tool-calls,enum=conversation-update,enum=dtmf"`
	Body          json.RawMessage `json:"-"`
	Status        string          `json:"status" jsonschema:"required,enum=pending,enum=delivered,enum=dead"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt time.Time       `json:"next_attempt_at"`
	LastStatus    int             `json:"last_status,omitempty" jsonschema:"description=HTTP status of the last attempt"`
	LastError     string          `json:"last_error,omitempty"`
	CreatedAt     time.Time       `json:"created_at" jsonschema:"required"`
	UpdatedAt     time.Time       `json:"updated_at" jsonschema:"required"`
	DeliveredAt   *time.Time      `json:"delivered_at,omitempty"`
}

// DeliveryFilter selects deliveries to list.
type DeliveryFilter struct {
	CallID string
	Status string
	Page   Page
}

// DeliveryRound is what a dispatcher's round writes: the outcomes of the
// attempts that ended since the last, and its claim on the next due
// deliveries (see DeliveryStore.RecordAndClaim).
type DeliveryRound struct {
	Outcomes []WebhookDelivery
	// Now is when the round runs: deliveries due by then are claimed,
	// their UpdatedAt set to it.
	Now time.Time
	// Until is when the claims run out: the claimed deliveries' next
	// attempt.
	Until time.Time
	// Limit bounds the deliveries claimed; below 1 claims none.
	Limit int
	// Candidates are deliveries the dispatcher read as due
	// (DueDeliveries) and has no attempt in flight of, to claim after
	// the next deliveries of the calls whose outcomes are recorded.
	Candidates []WebhookDelivery
}

// DeliveryStore is the webhook outbox. Deliveries are added through the
// CallStore methods' out parameter, in the transaction of the change.
type DeliveryStore interface {
	// DueDeliveries returns pending deliveries whose next attempt is due
	// (NextAttemptAt <= now), oldest first, at most limit, and for each
	// call only its oldest pending delivery, so that a call's events are
	// delivered in order. Deliveries without a call are each their own.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]WebhookDelivery, error)
	// NextDueAt returns when the earliest pending delivery falls due, and
	// false when none is pending.
	NextDueAt(ctx context.Context) (time.Time, bool, error)
	// ClaimDeliveries moves the next attempt of those of the deliveries
	// ids that are still pending to until (UpdatedAt now), in one write,
	// and returns the ids it moved: the dispatcher's claim on a round's
	// deliveries before it sends them. A store that several dispatchers
	// share (one per node) claims only those still due at now and first
	// of their call, so that of two dispatchers claiming one delivery one
	// gets it.
	ClaimDeliveries(ctx context.Context, ids []string, until, now time.Time) ([]string, error)
	// UpdateDelivery records an attempt's outcome: status, attempts,
	// next attempt, last status and error, delivered time.
	UpdateDelivery(ctx context.Context, d WebhookDelivery) error
	// UpdateDeliveries records the outcomes of several attempts in one
	// write, each as UpdateDelivery would; an unknown id is skipped (its
	// delivery is gone: nothing is left to record). One outcome that is
	// not valid fails them all, and nothing is written.
	UpdateDeliveries(ctx context.Context, ds []WebhookDelivery) error
	// RecordAndClaim is a dispatcher's round in one write, all or
	// nothing: it records round.Outcomes as UpdateDeliveries would, then
	// claims (moves the next attempt to round.Until) at most round.Limit
	// deliveries that are pending, due at round.Now and first of their
	// call to their URL: first the next delivery of each call to the URL
	// of an outcome that ended its delivery (delivered or dead), so that
	// a call's next event is claimed in the write that records its
	// previous one, then of round.Candidates. It returns the claimed
	// deliveries with their bodies, as they were before the claim (a
	// delivery given back unsent goes back to that). A store several
	// dispatchers share gives each delivery to one of them.
	RecordAndClaim(ctx context.Context, round DeliveryRound) ([]WebhookDelivery, error)
	// GetDelivery returns one delivery with its body, or CodeNotFound.
	GetDelivery(ctx context.Context, id string) (WebhookDelivery, error)
	// ListDeliveries returns a page, newest first, and the total.
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]WebhookDelivery, int, error)
}

// CheckDeliveryOutcome refuses an outcome a DeliveryStore must not
// record: an unknown status (CodeInvalidRequest, field status) or a
// negative number of attempts (field attempts).
func CheckDeliveryOutcome(d WebhookDelivery) error {
	switch d.Status {
	case DeliveryPending, DeliveryDelivered, DeliveryDead:
	default:
		return FieldError(CodeInvalidRequest, "status", "unknown webhook delivery status %q", d.Status)
	}
	if d.Attempts < 0 {
		return FieldError(CodeInvalidRequest, "attempts", "attempts must not be negative")
	}
	return nil
}
