package core

import "context"

// SetTrunkHealth makes GetTrunk and ListTrunks show each trunk's last
// probe result.
func (c *Configuration) SetTrunkHealth(h TrunkHealthSource) { c.health = h }

func (c *Configuration) withHealth(t Trunk) Trunk {
	if c.health != nil {
		if h, ok := c.health.Health(t.ID); ok && h.TrunkUpdatedAt.Equal(t.UpdatedAt) {
			t.Health = &h
		}
	}
	return t
}

// ConfigureTrunk creates a trunk, or, when id is set, replaces the
// configuration of that trunk. On an update an empty password keeps the
// stored one, so that a client that read the trunk (which never shows the
// password) can send it back edited; clearPassword removes it. It reports
// whether the trunk was created.
func (c *Configuration) ConfigureTrunk(ctx context.Context, id string, cfg TrunkConfig, clearPassword bool) (Trunk, bool, error) {
	t := Trunk{ID: id, TrunkConfig: cfg}
	created := t.ID == ""
	if !created {
		cur, err := c.store.GetTrunk(ctx, t.ID)
		if err != nil {
			return Trunk{}, false, err
		}
		if t.Password == "" && !clearPassword {
			t.Password = cur.Password
		}
		t.CreatedAt = cur.CreatedAt
	}
	if err := ValidateTrunk(&t.TrunkConfig); err != nil {
		return Trunk{}, false, err
	}
	t.UpdatedAt = c.timestamp()
	t.PasswordSet = false
	if created {
		id, err := NewID()
		if err != nil {
			return Trunk{}, false, Internal("creating a trunk", err)
		}
		t.ID, t.CreatedAt = id, t.UpdatedAt
		err = c.store.CreateTrunk(ctx, t)
		return t.Redacted(), true, err
	}
	err := c.store.UpdateTrunk(ctx, t)
	return t.Redacted(), false, err
}

// GetTrunk returns a trunk without its password.
func (c *Configuration) GetTrunk(ctx context.Context, id string) (Trunk, error) {
	t, err := c.store.GetTrunk(ctx, id)
	if err != nil {
		return Trunk{}, err
	}
	return c.withHealth(t.Redacted()), nil
}

// ListTrunks returns a page of trunks and the total count.
func (c *Configuration) ListTrunks(ctx context.Context, p Page) ([]Trunk, int, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, 0, err
	}
	list, total, err := c.store.ListTrunks(ctx, p)
	for i := range list {
		list[i] = c.withHealth(list[i].Redacted())
	}
	return list, total, err
}

// DeleteTrunk removes a trunk; see Store.DeleteTrunk for force.
func (c *Configuration) DeleteTrunk(ctx context.Context, id string, force bool) error {
	if err := c.store.DeleteTrunk(ctx, id, force); err != nil {
		return err
	}
	if c.health != nil {
		c.health.Forget(id)
	}
	return nil
}
