package sip

import (
	"sync"
	"time"
)

// registry holds the live calls by the core's id and by dialog, and
// remembers for a while the calls that ended (so that a late NOTIFY or BYE
// gets 200) and the hang-ups asked for calls not registered yet.
type registry struct {
	ttl time.Duration

	mu      sync.RWMutex
	byID    map[string]*call
	byKey   map[string]*call
	ended   map[string]string   // dialog key -> call id
	endedID map[string]struct{} // call ids
	pending map[string]struct{} // call ids Hangup was asked for before they existed
}

func newRegistry(ttl time.Duration) *registry {
	return &registry{
		ttl:     ttl,
		byID:    map[string]*call{},
		byKey:   map[string]*call{},
		ended:   map[string]string{},
		endedID: map[string]struct{}{},
		pending: map[string]struct{}{},
	}
}

// add registers a call by id; false when the id is already live.
func (r *registry) add(c *call) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.byID[c.id]; dup {
		return false
	}
	r.byID[c.id] = c
	if c.key != "" {
		r.byKey[c.key] = c
	}
	return true
}

// setKey registers the dialog of a call added before its dialog existed.
func (r *registry) setKey(c *call, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.key = key
	if r.byID[c.id] == c {
		r.byKey[key] = c
	}
}

func (r *registry) get(id string) *call {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byID[id]
}

func (r *registry) byDialog(key string) *call {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byKey[key]
}

// recentlyEnded returns the call id of a dialog that ended within the TTL.
func (r *registry) recentlyEnded(key string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	id, ok := r.ended[key]
	return id, ok
}

// hangupUnknown notes a Hangup for a call id that is not live: unless that
// call has just ended, the call may be about to be registered (the core
// decided on it and asked to hang up before the INVITE handler got on), so
// the hang-up is kept for the TTL and applied by takePending. A call
// registered since the caller looked it up is returned, for the caller to
// end: between the two looks the hang-up would otherwise be lost.
func (r *registry) hangupUnknown(id string) *call {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ended := r.endedID[id]; ended {
		return nil
	}
	if c, live := r.byID[id]; live {
		return c
	}
	r.pending[id] = struct{}{}
	time.AfterFunc(r.ttl, func() {
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
	})
	return nil
}

// takePending reports (once) whether Hangup was asked for id before it was
// registered.
func (r *registry) takePending(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.pending[id]
	delete(r.pending, id)
	return ok
}

// remove forgets a live call and remembers it for the TTL.
func (r *registry) remove(c *call) {
	r.mu.Lock()
	if r.byID[c.id] == c {
		delete(r.byID, c.id)
	}
	key := c.key
	if key != "" && r.byKey[key] == c {
		delete(r.byKey, key)
		r.ended[key] = c.id
	}
	r.endedID[c.id] = struct{}{}
	r.mu.Unlock()
	time.AfterFunc(r.ttl, func() {
		r.mu.Lock()
		if key != "" && r.ended[key] == c.id {
			delete(r.ended, key)
		}
		if r.byID[c.id] == nil {
			delete(r.endedID, c.id)
		}
		r.mu.Unlock()
	})
}

// live lists the live calls.
func (r *registry) live() []*call {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*call, 0, len(r.byID))
	for _, c := range r.byID {
		out = append(out, c)
	}
	return out
}

func (r *registry) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byID)
}
