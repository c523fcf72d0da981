package core

import (
	"encoding/json"
	"testing"
	"time"
)

// Benchmarks of the hot functions of a transfer: parsing the destination,
// checking a configuration, encoding an event, fanning it out.

func BenchmarkParseTargetNumber(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTarget("destination", "+31612345678"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTargetSIPURI(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTarget("destination", "sip:desk@pbx.example.com:5070;transport=tcp"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateAssistant(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		a := validAssistant()
		if err := ValidateAssistant(&a); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCall() Call {
	now := time.Now().UTC()
	return Call{ID: "01a20f03-ddbd-79af-b42f-9d7172ae592a", Direction: DirectionInbound, Status: CallInProgress,
		CallerPhone: "+31611122233", AgentPhone: "+31850835037", NumberID: "n", AssistantID: "a",
		StartedAt: &now, CreatedAt: now, UpdatedAt: now}
}

func BenchmarkWebhookBody(b *testing.B) {
	c := benchCall()
	t := Transfer{ID: "t", CallID: c.ID, Destination: "+31612345678", DestinationType: "number", Status: TransferRinging,
		SIPStatus: 180, Steps: []TransferStep{{Status: TransferRequested}, {Status: TransferTrying}, {Status: TransferRinging}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webhookBody(WebhookTransferUpdate, c.UpdatedAt, c, map[string]any{"transfer": t}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEventJSON(b *testing.B) {
	e := Event{Type: EventCallStatus, At: time.Now(), Call: benchCall()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBusPublish(b *testing.B) {
	bus := NewBus()
	subs := make([]*Subscription, 4)
	for i := range subs {
		subs[i] = bus.Subscribe(nil)
		go func(s *Subscription) {
			for range s.C {
			}
		}(subs[i])
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

func BenchmarkLiveCallLookup(b *testing.B) {
	m := &Calls{live: map[string]*liveCall{}}
	ids := make([]string, 10000)
	for i := range ids {
		id, _ := NewID()
		ids[i] = id
		m.live[id] = &liveCall{}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if m.get(ids[i%len(ids)]) == nil {
			b.Fatal("missing")
		}
		i++
	}
}
