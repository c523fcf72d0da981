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

// Bus fans events out to subscribers. Publish never blocks and never
// drops: each subscriber has its own unbounded queue drained by one
// goroutine, so a slow consumer delays only itself.
type Bus struct {
	mu     sync.Mutex
	nextID int
	subs   map[int]*Subscription
	// byCall are the subscriptions to one call's events (a transfer
	// waiting for its steps), found by the call's id: with thousands of
	// transfers in flight, Publish would otherwise offer every event to
	// every one of them.
	byCall map[string]map[int]*Subscription
}

// NewBus returns an empty bus.
func NewBus() *Bus {
	return &Bus{subs: map[int]*Subscription{}, byCall: map[string]map[int]*Subscription{}}
}

// Subscription receives the events its filter accepts, in publish order.
type Subscription struct {
	C      <-chan Event
	filter func(Event) bool
	callID string // set for SubscribeCall
	mu     sync.Mutex
	queue  []Event
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

// Publish hands e to every subscriber whose filter accepts it.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs {
		s.offer(e)
	}
	for _, s := range b.byCall[e.Call.ID] {
		s.offer(e)
	}
}

// offer queues e when the filter accepts it.
func (s *Subscription) offer(e Event) {
	if s.filter != nil && !s.filter(e) {
		return
	}
	s.mu.Lock()
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Subscription) pump(c chan<- Event) {
	defer close(c)
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, e := range batch {
			select {
			case c <- e:
			case <-s.closed:
				return
			}
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
		if s.callID == "" {
			delete(s.bus.subs, s.id)
		} else if m := s.bus.byCall[s.callID]; m != nil {
			delete(m, s.id)
			if len(m) == 0 {
				delete(s.bus.byCall, s.callID)
			}
		}
		s.bus.mu.Unlock()
		close(s.closed)
	})
}
