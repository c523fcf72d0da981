package core

import (
	"context"
	"encoding/json"
)

// CreatePhoneNumber validates and stores a phone number.
func (c *Configuration) CreatePhoneNumber(ctx context.Context, cfg PhoneNumberConfig) (PhoneNumber, error) {
	if err := ValidatePhoneNumber(&cfg); err != nil {
		return PhoneNumber{}, err
	}
	id, err := NewID()
	if err != nil {
		return PhoneNumber{}, Internal("creating a phone number", err)
	}
	n := PhoneNumber{ID: id, PhoneNumberConfig: cfg, CreatedAt: c.timestamp()}
	n.UpdatedAt = n.CreatedAt
	err = c.store.CreatePhoneNumber(ctx, n)
	c.policy.numbersChanged()
	if err != nil {
		return PhoneNumber{}, err
	}
	return n, nil
}

// GetPhoneNumber returns a phone number.
func (c *Configuration) GetPhoneNumber(ctx context.Context, id string) (PhoneNumber, error) {
	return c.store.GetPhoneNumber(ctx, id)
}

// ListPhoneNumbers returns a page of phone numbers and the total count.
func (c *Configuration) ListPhoneNumbers(ctx context.Context, p Page) ([]PhoneNumber, int, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, 0, err
	}
	return c.store.ListPhoneNumbers(ctx, p)
}

// UpdatePhoneNumber applies a JSON merge patch to a phone number; null
// detaches assistant_id or transfer_trunk_id.
func (c *Configuration) UpdatePhoneNumber(ctx context.Context, id string, patch json.RawMessage) (PhoneNumber, error) {
	cur, err := c.store.GetPhoneNumber(ctx, id)
	if err != nil {
		return PhoneNumber{}, err
	}
	var next PhoneNumber
	if err := applyPatch(cur, patch, &next); err != nil {
		return PhoneNumber{}, err
	}
	if err := ValidatePhoneNumber(&next.PhoneNumberConfig); err != nil {
		return PhoneNumber{}, err
	}
	next.ID, next.CreatedAt, next.UpdatedAt = cur.ID, cur.CreatedAt, c.timestamp()
	err = c.store.UpdatePhoneNumber(ctx, next)
	c.policy.numbersChanged()
	if err != nil {
		return PhoneNumber{}, err
	}
	return next, nil
}

// DeletePhoneNumber removes a phone number.
func (c *Configuration) DeletePhoneNumber(ctx context.Context, id string) error {
	err := c.store.DeletePhoneNumber(ctx, id)
	c.policy.numbersChanged()
	return err
}
