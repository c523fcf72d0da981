package core

import (
	"sync"
	"time"
)

// Event types. Every consumer (the outbox, MCP progress and resource
// notifications, webhooks, logs, metrics) subscribes to one stream of
// these; nothing calls a consumer directly.
const (
	EventCallStatus   = "call.status"
	EventTransferStep = "transfer.step"
)

// Event is one domain event, published after the change it describes was
// stored.
type Event struct {
	Type string
	At   time.Time
	// Call is a snapshot of the call after the change (without its
	// transfer history).
	Call Call
	// Transfer is set on EventTransferStep: a snapshot after the step.
	Transfer *Transfer
	// Line is set on EventTranscript.
	Line *TranscriptLine
	// Digit is set on EventDigit.
	Digit *Digit
}

// DefaultQueueLimit is how many events a subscriber of NewBus may have
// waiting before it is cut off as lagging. Every consumer in the server
// keeps up with far more than a burst of this size; only one that is
// stuck (a client that stopped reading) reaches it.
const DefaultQueueLimit = 4096

// keptQueueCap is the most events a drained subscription's queue keeps
// room for (an Event is about 400 bytes: 400 KiB at most): a burst of up
// to that many is taken again without a new array, and a longer one's
// array is not held for good. BenchmarkBusPublish (four subscribers
// behind a publisher that runs ahead): 3.3-3.7 KB/op before the queue
// reused its array, 2.2-2.6 KB/op keeping 256, 0.9-1.4 KB/op keeping
// 1,024.
const keptQueueCap = 1024

// Bus fans events out to subscribers. Publish never blocks: each
// subscriber has its own queue, drained by one goroutine, so a slow
// consumer delays only itself. The queue is bounded: a subscriber that
// falls that far behind is cut off rather than let memory grow without
// end. It gets what was queued, then its C is closed and Lagged reports
// true; having missed events, it must catch up from the store (where
// every event's change was written before it was published) and
// subscribe again.
type Bus struct {
	mu     sync.Mutex
	limit  int
	nextID int
	subs   map[int]*Subscription
	// byCall are the subscriptions to one call's events (a transfer
	// waiting for its steps), found by the call's id: with thousands of
	// transfers in flight, Publish would otherwise offer every event to
	// every one of them.
	byCall map[string]map[int]*Subscription
}

// NewBus returns an empty bus whose subscribers may each have
// DefaultQueueLimit events waiting.
func NewBus() *Bus { return NewBusWithLimit(DefaultQueueLimit) }

// NewBusWithLimit returns an empty bus whose subscribers may each have
// limit events waiting (at least 1).
func NewBusWithLimit(limit int) *Bus {
	return &Bus{limit: max(limit, 1), subs: map[int]*Subscription{}, byCall: map[string]map[int]*Subscription{}}
}

// Subscription receives the events its filter accepts, in publish order.
type Subscription struct {
	C      <-chan Event
	filter func(Event) bool
	callID string // set for SubscribeCall
	mu     sync.Mutex
	// queue[head:] wait to be sent. The array is reused once they are
	// all sent, and its taken events are dropped from its front once they
	// are half of it: popping by reslicing instead gave every event
	// offered to a subscriber that keeps up an array of its own (an Event
	// holds a whole Call), about a tenth of what the server allocated per
	// transfer.
	queue  []Event
	head   int
	lagged bool // cut off; guarded by mu
	wake   chan struct{}
	closed chan struct{}
	once   sync.Once
	bus    *Bus
	id     int
}

// Subscribe starts a subscription; filter nil accepts everything. Close
// it when done.
func (b *Bus) Subscribe(filter func(Event) bool) *Subscription {
	return b.subscribe("", filter)
}

// SubscribeCall starts a subscription to the events of one call that
// filter (nil: all of them) accepts.
func (b *Bus) SubscribeCall(callID string, filter func(Event) bool) *Subscription {
	return b.subscribe(callID, filter)
}

func (b *Bus) subscribe(callID string, filter func(Event) bool) *Subscription {
	c := make(chan Event)
	s := &Subscription{C: c, filter: filter, callID: callID, wake: make(chan struct{}, 1), closed: make(chan struct{}), bus: b}
	b.mu.Lock()
	b.nextID++
	s.id = b.nextID
	if callID == "" {
		b.subs[s.id] = s
	} else {
		m := b.byCall[callID]
		if m == nil {
			m = map[int]*Subscription{}
			b.byCall[callID] = m
		}
		m[s.id] = s
	}
	b.mu.Unlock()
	go s.pump(c)
	return s
}

// Publish hands e to every subscriber whose filter accepts it, and cuts
// off those whose queue is full.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs {
		if !s.offer(e, b.limit) {
			b.removeLocked(s)
		}
	}
	for _, s := range b.byCall[e.Call.ID] {
		if !s.offer(e, b.limit) {
			b.removeLocked(s)
		}
	}
}

// removeLocked takes s off the bus; b.mu is held.
func (b *Bus) removeLocked(s *Subscription) {
	if s.callID == "" {
		delete(b.subs, s.id)
	} else if m := b.byCall[s.callID]; m != nil {
		delete(m, s.id)
		if len(m) == 0 {
			delete(b.byCall, s.callID)
		}
	}
}

// offer queues e when the filter accepts it. It reports false when the
// queue is full: e is not queued, and the subscription is lagging.
func (s *Subscription) offer(e Event, limit int) bool {
	if s.filter != nil && !s.filter(e) {
		return true
	}
	s.mu.Lock()
	full := len(s.queue)-s.head >= limit
	if full {
		s.lagged = true
	} else {
		s.queue = append(s.queue, e)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return !full
}

// Lagged reports whether the subscription was cut off for falling
// behind: C was closed after the events queued before that, and what
// was published since is missed.
func (s *Subscription) Lagged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lagged
}

func (s *Subscription) pump(c chan<- Event) {
	defer close(c)
	for {
		s.mu.Lock()
		if s.head < len(s.queue) {
			// One at a time, so that the queue's length is what waits.
			e := s.queue[s.head]
			s.queue[s.head] = Event{}
			s.head++
			switch {
			case s.head == len(s.queue):
				s.head = 0
				s.queue = s.queue[:0]
				if cap(s.queue) > keptQueueCap {
					s.queue = nil // a burst's array is not held for good
				}
			case s.head >= keptQueueCap && 2*s.head >= len(s.queue):
				// A subscriber always a little behind never drains: the
				// events it took would pile up in front of those waiting.
				n := copy(s.queue, s.queue[s.head:])
				clear(s.queue[n:])
				s.queue, s.head = s.queue[:n], 0
			}
			s.mu.Unlock()
			select {
			case c <- e:
			case <-s.closed:
				return
			}
			continue
		}
		lagged := s.lagged
		s.mu.Unlock()
		if lagged {
			return // nothing is queued after the cut-off
		}
		select {
		case <-s.wake:
		case <-s.closed:
			return
		}
	}
}

// Close ends the subscription; C is closed soon after.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.bus.mu.Lock()
		s.bus.removeLocked(s)
		s.bus.mu.Unlock()
		close(s.closed)
	})
}
