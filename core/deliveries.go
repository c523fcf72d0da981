package core

import (
	"context"
	"strings"
)

// Deliveries lets operators inspect the webhook outbox and send a dead
// delivery again.
type Deliveries struct {
	store  DeliveryStore
	notify func()
}

// NewDeliveries returns the outbox view; notify wakes the dispatcher.
func NewDeliveries(store DeliveryStore, notify func()) *Deliveries {
	if notify == nil {
		notify = func() {}
	}
	return &Deliveries{store: store, notify: notify}
}

// List returns a page of deliveries, newest first.
func (d *Deliveries) List(ctx context.Context, f DeliveryFilter) ([]WebhookDelivery, int, error) {
	p, err := f.Page.Normalize()
	if err != nil {
		return nil, 0, err
	}
	f.Page = p
	switch f.Status {
	case "", DeliveryPending, DeliveryDelivered, DeliveryDead:
	default:
		return nil, 0, FieldError(CodeInvalidRequest, "status", "status must be pending, delivered or dead")
	}
	return d.store.ListDeliveries(ctx, f)
}

// Retry puts a dead delivery back in the queue, due now, with the same id
// (receivers still drop it if they had it). A delivered one is a conflict:
// it arrived.
func (d *Deliveries) Retry(ctx context.Context, id string) (WebhookDelivery, error) {
	if strings.TrimSpace(id) == "" {
		return WebhookDelivery{}, FieldError(CodeMissingField, "id", "id is required")
	}
	del, err := d.store.GetDelivery(ctx, id)
	if HasCode(err, CodeNotFound) {
		return WebhookDelivery{}, FieldError(CodeNotFound, "id", "webhook delivery %q not found", clip(id))
	}
	if err != nil {
		return WebhookDelivery{}, err
	}
	switch del.Status {
	case DeliveryDelivered:
		return WebhookDelivery{}, FieldError(CodeConflict, "id", "delivery %s was delivered; nothing to retry", id)
	case DeliveryPending:
		return del, nil
	}
	now := timestampNow()
	del.Status, del.NextAttemptAt, del.UpdatedAt = DeliveryPending, now, now
	if err := d.store.UpdateDelivery(ctx, del); err != nil {
		return WebhookDelivery{}, err
	}
	d.notify()
	return del, nil
}
