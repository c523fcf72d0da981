package core

import (
	"context"
	"sync"
)

// ConfigCache is a Store that also keeps, in memory, the assistants, phone
// numbers and trunks a transfer reads before its REFER leaves (the call's
// assistant, its number, the number's transfer trunk): three read
// transactions a transfer otherwise makes, which configuration writes
// seldom change. Give the same ConfigCache to NewConfiguration and
// NewCalls, so that every configuration write goes through it.
//
// Only the transfer path (Calls' transfer checks and routing) and an
// inbound INVITE's lookup of the number it called read through the cache;
// every other read goes to the store. The values it returns share their
// slices, maps and pointers with the cache, and those paths only read
// them.
//
// Every write through the cache drops it (Invalidate), whatever it
// changed: writes are rare and a whole drop cannot miss a dependency (a
// deleted trunk detaching numbers, a forced assistant delete). A store
// shared by several nodes must also call Invalidate when another node
// changed the configuration.
type ConfigCache struct {
	Store

	mu sync.Mutex
	// gen counts the drops: a read that began before a drop does not keep
	// what it read.
	gen        uint64
	assistants map[string]Assistant
	numbers    map[string]PhoneNumber
	trunks     map[string]Trunk
	// called holds the numbers by their E.164 form, as an inbound call's
	// INVITE names them.
	called map[string]PhoneNumber
}

// NewConfigCache returns a cache over store.
func NewConfigCache(store Store) *ConfigCache {
	return &ConfigCache{Store: store, assistants: map[string]Assistant{}, numbers: map[string]PhoneNumber{}, trunks: map[string]Trunk{},
		called: map[string]PhoneNumber{}}
}

// Invalidate drops everything cached. It is the one way the cache is
// emptied: the writes below call it, and so must whatever learns of a
// change made elsewhere (another node of a shared store).
func (c *ConfigCache) Invalidate() {
	c.mu.Lock()
	c.gen++
	clear(c.assistants)
	clear(c.numbers)
	clear(c.trunks)
	clear(c.called)
	c.mu.Unlock()
}

// cachedRead returns m[id], or reads it with read and keeps it unless the
// cache was dropped meanwhile. Errors (not found above all) are not kept.
func cachedRead[T any](c *ConfigCache, m map[string]T, id string, read func() (T, error)) (T, error) {
	c.mu.Lock()
	v, ok := m[id]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := read()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.gen == gen {
		m[id] = v
	}
	c.mu.Unlock()
	return v, nil
}

func (c *ConfigCache) cachedAssistant(ctx context.Context, id string) (Assistant, error) {
	return cachedRead(c, c.assistants, id, func() (Assistant, error) { return c.Store.GetAssistant(ctx, id) })
}

func (c *ConfigCache) cachedPhoneNumber(ctx context.Context, id string) (PhoneNumber, error) {
	return cachedRead(c, c.numbers, id, func() (PhoneNumber, error) { return c.Store.GetPhoneNumber(ctx, id) })
}

func (c *ConfigCache) cachedCalledNumber(ctx context.Context, e164 string) (PhoneNumber, error) {
	return cachedRead(c, c.called, e164, func() (PhoneNumber, error) { return c.Store.FindPhoneNumber(ctx, e164) })
}

func (c *ConfigCache) cachedTrunk(ctx context.Context, id string) (Trunk, error) {
	return cachedRead(c, c.trunks, id, func() (Trunk, error) { return c.Store.GetTrunk(ctx, id) })
}

// written drops the cache after a write, whatever its outcome: a write
// that failed may still have changed something (a commit whose answer was
// lost).
func (c *ConfigCache) written(err error) error {
	c.Invalidate()
	return err
}

func (c *ConfigCache) CreateAssistant(ctx context.Context, a Assistant) error {
	return c.written(c.Store.CreateAssistant(ctx, a))
}

func (c *ConfigCache) UpdateAssistant(ctx context.Context, a Assistant) error {
	return c.written(c.Store.UpdateAssistant(ctx, a))
}

func (c *ConfigCache) DeleteAssistant(ctx context.Context, id string, force bool) error {
	return c.written(c.Store.DeleteAssistant(ctx, id, force))
}

func (c *ConfigCache) CreateTrunk(ctx context.Context, t Trunk) error {
	return c.written(c.Store.CreateTrunk(ctx, t))
}

func (c *ConfigCache) UpdateTrunk(ctx context.Context, t Trunk) error {
	return c.written(c.Store.UpdateTrunk(ctx, t))
}

func (c *ConfigCache) DeleteTrunk(ctx context.Context, id string, force bool) error {
	return c.written(c.Store.DeleteTrunk(ctx, id, force))
}

func (c *ConfigCache) CreatePhoneNumber(ctx context.Context, n PhoneNumber) error {
	return c.written(c.Store.CreatePhoneNumber(ctx, n))
}

func (c *ConfigCache) UpdatePhoneNumber(ctx context.Context, n PhoneNumber) error {
	return c.written(c.Store.UpdatePhoneNumber(ctx, n))
}

func (c *ConfigCache) DeletePhoneNumber(ctx context.Context, id string) error {
	return c.written(c.Store.DeletePhoneNumber(ctx, id))
}

// Reads of the transfer path: through the cache when the Calls' store is
// a ConfigCache, else from the store.

// calledNumber is the number an inbound INVITE called: the one read of
// the inbound path that goes through the cache, as every INVITE makes it
// (the number is only read: OfferCall copies what it needs).
func (m *Calls) calledNumber(ctx context.Context, e164 string) (PhoneNumber, error) {
	if c, ok := m.store.(*ConfigCache); ok {
		return c.cachedCalledNumber(ctx, e164)
	}
	return m.store.FindPhoneNumber(ctx, e164)
}

func (m *Calls) transferAssistant(ctx context.Context, id string) (Assistant, error) {
	if c, ok := m.store.(*ConfigCache); ok {
		return c.cachedAssistant(ctx, id)
	}
	return m.store.GetAssistant(ctx, id)
}

func (m *Calls) transferPhoneNumber(ctx context.Context, id string) (PhoneNumber, error) {
	if c, ok := m.store.(*ConfigCache); ok {
		return c.cachedPhoneNumber(ctx, id)
	}
	return m.store.GetPhoneNumber(ctx, id)
}

func (m *Calls) transferTrunk(ctx context.Context, id string) (Trunk, error) {
	if c, ok := m.store.(*ConfigCache); ok {
		return c.cachedTrunk(ctx, id)
	}
	return m.store.GetTrunk(ctx, id)
}
