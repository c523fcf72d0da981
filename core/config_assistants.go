package core

import (
	"context"
	"encoding/json"
)

// CreateAssistant validates and stores a new assistant.
func (c *Configuration) CreateAssistant(ctx context.Context, cfg AssistantConfig) (Assistant, error) {
	if err := ValidateAssistant(&cfg); err != nil {
		return Assistant{}, err
	}
	if err := c.checkDestinations(ctx, &cfg); err != nil {
		return Assistant{}, err
	}
	if err := c.checkReferences(ctx, &cfg); err != nil {
		return Assistant{}, err
	}
	id, err := NewID()
	if err != nil {
		return Assistant{}, Internal("creating an assistant", err)
	}
	a := Assistant{ID: id, AssistantConfig: cfg, CreatedAt: c.timestamp()}
	a.UpdatedAt = a.CreatedAt
	if err := c.store.CreateAssistant(ctx, a); err != nil {
		return Assistant{}, err
	}
	return a.Redacted(), nil
}

// GetAssistant returns an assistant without its secret.
func (c *Configuration) GetAssistant(ctx context.Context, id string) (Assistant, error) {
	a, err := c.store.GetAssistant(ctx, id)
	if err != nil {
		return Assistant{}, err
	}
	return a.Redacted(), nil
}

// ListAssistants returns a page of assistants and the total count.
func (c *Configuration) ListAssistants(ctx context.Context, p Page) ([]Assistant, int, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, 0, err
	}
	list, total, err := c.store.ListAssistants(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	for i := range list {
		list[i] = list[i].Redacted()
	}
	return list, total, nil
}

// UpdateAssistant applies a JSON merge patch (RFC 7396) to the assistant:
// fields sent change, fields absent stay, null removes an optional field,
// and nested objects (llm_config) merge. Arrays are replaced whole.
func (c *Configuration) UpdateAssistant(ctx context.Context, id string, patch json.RawMessage) (Assistant, error) {
	cur, err := c.store.GetAssistant(ctx, id)
	if err != nil {
		return Assistant{}, err
	}
	var next Assistant
	if err := applyPatch(cur, patch, &next); err != nil {
		return Assistant{}, err
	}
	if err := ValidateAssistant(&next.AssistantConfig); err != nil {
		return Assistant{}, err
	}
	if err := c.checkDestinations(ctx, &next.AssistantConfig); err != nil {
		return Assistant{}, err
	}
	if err := c.checkReferences(ctx, &next.AssistantConfig); err != nil {
		return Assistant{}, err
	}
	next.ID, next.CreatedAt, next.UpdatedAt = cur.ID, cur.CreatedAt, c.timestamp()
	next.WebhookSecretSet = false
	if err := c.store.UpdateAssistant(ctx, next); err != nil {
		return Assistant{}, err
	}
	return next.Redacted(), nil
}

// DeleteAssistant removes an assistant; see Store.DeleteAssistant for force.
func (c *Configuration) DeleteAssistant(ctx context.Context, id string, force bool) error {
	return c.store.DeleteAssistant(ctx, id, force)
}
