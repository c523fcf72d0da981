package tools

import (
	"context"
	"fmt"

	"github.com/voicedock/voicedock/core"
)

// ListDeliveriesInput filters the webhook outbox.
type ListDeliveriesInput struct {
	CallID string `json:"call_id,omitempty" jsonschema:"description=Only deliveries of this call,maxLength=128"`
	Status string `json:"status,omitempty" jsonschema:"description=Only deliveries with this status,enum=pending,enum=delivered,enum=dead"`
	ListInput
}

// DeliveryListOutput is a page of deliveries.
type DeliveryListOutput struct {
	Deliveries []core.WebhookDelivery `json:"deliveries" jsonschema:"required"`
	Pagination Pagination             `json:"pagination" jsonschema:"required"`
}

// DeliveryOutput wraps one delivery.
type DeliveryOutput struct {
	Delivery core.WebhookDelivery `json:"delivery" jsonschema:"required"`
}

func webhookTools(d *core.Deliveries) []Tool {
	return []Tool{
		define("list_webhook_deliveries", "List webhook deliveries",
			"List webhook deliveries (status-update, transfer-update, end-of-call-report events on their way to webhook URLs), newest first: pending ones with their next attempt, delivered ones, and dead ones with the last error.",
			Hints{ReadOnly: true},
			func(ctx context.Context, in ListDeliveriesInput) (DeliveryListOutput, string, error) {
				list, total, err := d.List(ctx, core.DeliveryFilter{CallID: in.CallID, Status: in.Status, Page: in.page()})
				if err != nil {
					return DeliveryListOutput{}, "", err
				}
				if list == nil {
					list = []core.WebhookDelivery{}
				}
				return DeliveryListOutput{list, pagination(in.ListInput, total)}, fmt.Sprintf("%d of %d deliveries.", len(list), total), nil
			}),
		define("retry_webhook_delivery", "Retry webhook delivery",
			"Send a dead webhook delivery again now, with the same X-Webhook-Id.",
			Hints{Idempotent: true, OpenWorld: true},
			func(ctx context.Context, in GetInput) (DeliveryOutput, string, error) {
				del, err := d.Retry(ctx, in.ID)
				if err != nil {
					return DeliveryOutput{}, "", err
				}
				return DeliveryOutput{del}, fmt.Sprintf("Delivery %s is queued again.", del.ID), nil
			}),
	}
}
