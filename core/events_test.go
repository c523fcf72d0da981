package core

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestSubscribeCall: a call's subscription sees that call's events only,
// beside the subscriptions to everything, and is gone once closed.
func TestSubscribeCall(t *testing.T) {
	bus := NewBus()
	all := bus.Subscribe(nil)
	defer all.Close()
	one := bus.SubscribeCall("a", func(e Event) bool { return e.Type == EventTransferStep })
	bus.Publish(Event{Type: EventCallStatus, Call: Call{ID: "a"}})
	bus.Publish(Event{Type: EventTransferStep, Call: Call{ID: "b"}})
	bus.Publish(Event{Type: EventTransferStep, Call: Call{ID: "a"}, Transfer: &Transfer{ID: "t"}})
	next := func(s *Subscription) Event {
		t.Helper()
		select {
		case e := <-s.C:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return Event{}
	}
	if e := next(one); e.Call.ID != "a" || e.Transfer == nil || e.Transfer.ID != "t" {
		t.Fatalf("call subscription got %+v", e)
	}
	for i, want := range []string{"a", "b", "a"} {
		if e := next(all); e.Call.ID != want {
			t.Fatalf("event %d to the subscription to everything: %+v", i, e)
		}
	}
	one.Close()
	bus.mu.Lock()
	left := len(bus.byCall)
	bus.mu.Unlock()
	if left != 0 {
		t.Errorf("%d calls keep subscriptions after Close", left)
	}
	select {
	case e, ok := <-one.C:
		if ok {
			t.Errorf("event after Close: %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Error("C not closed after Close")
	}
}

// BenchmarkBusPublishManyTransfers publishes with a thousand transfers in
// flight, each subscribed to its own call, as under load.
func BenchmarkBusPublishManyTransfers(b *testing.B) {
	bus := NewBus()
	var subs []*Subscription
	for i := range 1000 {
		s := bus.SubscribeCall(string(rune('a'+i%26))+string(rune(i)), nil)
		subs = append(subs, s)
	}
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()
	e := Event{Type: EventCallStatus, Call: benchCall()}
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(e)
	}
}

// TestSubscriberThatKeepsUpCostsNoAllocation: the events offered to a
// subscriber that takes each one before the next reuse its queue's
// array. An Event holds a whole Call, and the bus offers a transfer's
// dozen events to several subscribers each.
func TestSubscriberThatKeepsUpCostsNoAllocation(t *testing.T) {
	bus := NewBus()
	s := bus.Subscribe(nil)
	defer s.Close()
	e := Event{Type: EventCallStatus, Call: benchCall()}
	bus.Publish(e) // the queue's array, once
	<-s.C
	allocs := testing.AllocsPerRun(200, func() {
		bus.Publish(e)
		<-s.C
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event offered and taken, want 0", allocs)
	}
}

// TestQueueThatNeverDrainsStaysBounded: a subscriber always one or two
// events behind never empties its queue, so the array is never reused
// from its start; the events it already took must not pile up in front
// of the ones waiting.
func TestQueueThatNeverDrainsStaysBounded(t *testing.T) {
	bus := NewBus()
	s := bus.Subscribe(nil)
	defer s.Close()
	e := Event{Type: EventCallStatus, Call: benchCall()}
	bus.Publish(e)
	bus.Publish(e)
	bus.Publish(e)
	for range 20000 {
		bus.Publish(e)
		<-s.C
	}
	s.mu.Lock()
	size := cap(s.queue)
	s.mu.Unlock()
	if size > 4*keptQueueCap {
		t.Errorf("queue's array holds %d events for the 2 or 3 waiting", size)
	}
}

// TestSlowSubscriberIsCutOff: a subscriber that stops reading never holds
// up Publish or the others; at its queue's bound it gets what was queued,
// then C closes and Lagged says it missed events, and the bus forgets it.
// It runs on synctest's clock, so that each pump has done what it can
// after each Publish.
func TestSlowSubscriberIsCutOff(t *testing.T) {
	synctest.Test(t, testSlowSubscriberIsCutOff)
}

func testSlowSubscriberIsCutOff(t *testing.T) {
	const limit = 4
	bus := NewBusWithLimit(limit)
	slow := bus.Subscribe(nil)
	defer slow.Close()
	fast := bus.Subscribe(nil)
	defer fast.Close()
	const n = 100
	for i := range n {
		bus.Publish(Event{Type: EventCallStatus, Call: Call{ID: "c", DurationSeconds: i}})
		synctest.Wait() // each pump has taken what it can
		select {
		case e := <-fast.C:
			if e.Call.DurationSeconds != i {
				t.Fatalf("fast subscriber got event %d, want %d", e.Call.DurationSeconds, i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("fast subscriber did not get event %d", i)
		}
	}
	var got []int
	for e := range slow.C {
		got = append(got, e.Call.DurationSeconds)
	}
	// The one its pump held, and a full queue behind it: in order, from
	// the first.
	if len(got) != limit+1 {
		t.Errorf("slow subscriber got %v, want the first %d", got, limit+1)
	}
	for i, d := range got {
		if d != i {
			t.Fatalf("slow subscriber got %v, out of order", got)
		}
	}
	if !slow.Lagged() || fast.Lagged() {
		t.Errorf("Lagged: slow %v, fast %v", slow.Lagged(), fast.Lagged())
	}
	bus.mu.Lock()
	_, kept := bus.subs[slow.id]
	bus.mu.Unlock()
	if kept {
		t.Error("the bus still offers events to a cut-off subscriber")
	}
	// Catching up is subscribing again.
	again := bus.Subscribe(nil)
	defer again.Close()
	bus.Publish(Event{Type: EventCallStatus, Call: Call{ID: "c", DurationSeconds: n}})
	if e := <-again.C; e.Call.DurationSeconds != n || again.Lagged() {
		t.Errorf("new subscription got %+v", e)
	}
}
