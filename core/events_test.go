package core

import (
	"testing"
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
