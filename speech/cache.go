package speech

import (
	"container/list"
	"sync"
)

// cache is a least-recently-used map bounded by the bytes of audio it
// holds. Written here rather than with hashicorp/golang-lru because that
// bounds the number of entries, and one recording can be a thousand
// times the size of a short sentence.
type cache struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // front: most recently used
	items map[string]*list.Element
}

type entry struct {
	key string
	pcm []int16
}

func newCache(maxBytes int) *cache {
	return &cache{max: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

func (c *cache) get(key string) ([]int16, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry).pcm, true
}

func (c *cache) put(key string, pcm []int16) {
	n := 2 * len(pcm)
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > c.max {
		return
	}
	if el, ok := c.items[key]; ok {
		c.size -= 2 * len(el.Value.(*entry).pcm)
		c.order.Remove(el)
	}
	c.items[key] = c.order.PushFront(&entry{key, pcm})
	c.size += n
	for c.size > c.max {
		el := c.order.Back()
		e := el.Value.(*entry)
		c.order.Remove(el)
		delete(c.items, e.key)
		c.size -= 2 * len(e.pcm)
	}
}
