package core

import "sync"

// numberCacheSize bounds a numberCache: far more than the numbers a
// server sees again and again (its own numbers, its destinations, its
// regular callers), small next to its memory budget (~100 bytes each).
const numberCacheSize = 4096

// numberCache remembers the numbers ParseE164 found valid. ParseE164 is a
// pure function of the number, and libphonenumber's parse and its number
// type's patterns were ~3% of the server's CPU under transfer load, for
// the same few numbers each call (the called number at the INVITE, the
// destination at transfer_call, again in the policy). Only valid numbers
// are kept, so input that fails costs what it did and cannot fill the
// cache with garbage; when full it starts again empty. A nil cache parses
// every time.
type numberCache struct {
	mu    sync.Mutex
	known map[string]NumberInfo
}

func newNumberCache() *numberCache {
	return &numberCache{known: map[string]NumberInfo{}}
}

// parse is ParseE164(param, s), from the cache when s was parsed before.
func (c *numberCache) parse(param, s string) (NumberInfo, error) {
	if c == nil {
		return ParseE164(param, s)
	}
	c.mu.Lock()
	info, ok := c.known[s]
	c.mu.Unlock()
	if ok {
		return info, nil
	}
	info, err := ParseE164(param, s)
	if err != nil {
		return info, err
	}
	c.mu.Lock()
	if len(c.known) >= numberCacheSize {
		clear(c.known)
	}
	c.known[s] = info
	c.mu.Unlock()
	return info, nil
}
