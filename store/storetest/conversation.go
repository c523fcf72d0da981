package storetest

import (
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// A call's lines and keys come back in the order stored, paged, with
// their times; a line's webhook is written with it; they go with the call.
func testConversationRoundTrip(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	c := CallFixture(t, core.CallInProgress)
	if err := s.CreateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	at := Now()
	var ids []string
	for i, text := range []string{"hello", "I want a human", "thanks"} {
		l := core.TranscriptLine{ID: NewID(t), CallID: c.ID, Role: core.RoleUser, Content: text,
			StartedAt: at.Add(time.Duration(i) * time.Second), EndedAt: at.Add(time.Duration(i)*time.Second + 500*time.Millisecond)}
		var out []core.WebhookDelivery
		if i == 1 {
			out = append(out, core.WebhookDelivery{ID: NewID(t), CallID: c.ID, URL: "http://127.0.0.1:9/", EventType: core.WebhookConversationUpdate,
				Body: []byte(`{"message":{}}`), Status: core.DeliveryPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at})
		}
		if err := s.AddTranscriptLine(ctx, l, out...); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	page, total, err := s.ListTranscript(ctx, c.ID, core.Page{Limit: 2, Offset: 1})
	if err != nil || total != 3 || len(page) != 2 || page[0].ID != ids[1] || page[1].Content != "thanks" {
		t.Fatalf("page: %v %d %+v", err, total, page)
	}
	MustEqual(t, page[0].StartedAt, at.Add(time.Second))
	MustEqual(t, page[0].EndedAt, at.Add(1500*time.Millisecond))
	ds, n, err := s.ListDeliveries(ctx, core.DeliveryFilter{CallID: c.ID, Page: core.Page{Limit: 10}})
	if err != nil || n != 1 || ds[0].EventType != core.WebhookConversationUpdate {
		t.Fatalf("deliveries: %v %d %+v", err, n, ds)
	}

	for _, k := range []string{"5", "#"} {
		if err := s.AddDigit(ctx, core.Digit{ID: NewID(t), CallID: c.ID, Digit: k, Source: core.DigitSIPInfo, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	digits, err := s.ListDigits(ctx, c.ID, 10)
	if err != nil || len(digits) != 2 || digits[0].Digit != "5" || digits[1].Digit != "#" || !digits[0].At.Equal(at) {
		t.Fatalf("digits: %v %+v", err, digits)
	}
	// A line for a call that does not exist is refused.
	if err := s.AddTranscriptLine(ctx, core.TranscriptLine{ID: NewID(t), CallID: "nope", Role: core.RoleUser, Content: "x", StartedAt: at, EndedAt: at}); err == nil {
		t.Fatal("line for an unknown call stored")
	}
}
