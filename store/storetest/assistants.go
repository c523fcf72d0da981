package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// AssistantFixture is an assistant with every kind of field set.
func AssistantFixture(t *testing.T, name string) core.Assistant {
	t.Helper()
	ts := Now()
	return core.Assistant{
		ID: NewID(t),
		AssistantConfig: core.AssistantConfig{
			Name:               name,
			BusinessName:       "Acme",
			FirstMessage:       "Hello, Acme here.",
			IsActive:           Ptr(true),
			MaxDurationSeconds: 600,
			LLMConfig: &core.LLMConfig{
				Provider:    "openai",
				Model:       "gpt-4o-mini",
				Temperature: Ptr(0.3),
				Messages:    []core.Message{{Role: "system", Content: "You are helpful."}},
				Tools: []core.Tool{
					{Type: core.ToolTransferCall, Destinations: []core.Destination{
						{Type: core.DestinationNumber, Number: "+31201234567", Description: "sales", Message: "One moment."},
						{Type: core.DestinationSIP, SIPURI: "sip:support@pbx.example.com", Description: "support"},
					}},
					{Type: core.ToolEndCall},
					{Type: core.ToolFunction, Name: "lookup", Parameters: json.RawMessage(`{"type":"object"}`)},
				},
			},
			STTConfig:     &core.STTConfig{Provider: "deepgram", Keyterms: []string{"Acme"}},
			TTSConfig:     &core.TTSConfig{Provider: "elevenlabs", Speed: Ptr(1.1)},
			WebhookURL:    "https://hooks.example.com/voicedock",
			WebhookSecret: "whsec-" + name,
			WebhookEvents: []string{"status-update", "transfer-update"},
		},
		CreatedAt: ts,
		UpdatedAt: ts,
	}
}

func testAssistantCRUD(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	a := AssistantFixture(t, "Front desk")
	if err := s.CreateAssistant(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAssistant(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, got, a)
	if got.WebhookSecretSet {
		t.Error("WebhookSecretSet is set; callers call Redacted")
	}

	a.Name = "Reception"
	a.LLMConfig.Tools = a.LLMConfig.Tools[:1]
	a.WebhookSecret = ""
	a.STTConfig = nil
	a.UpdatedAt = a.UpdatedAt.Add(2 * time.Second)
	if err := s.UpdateAssistant(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetAssistant(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, got, a)
	var secret []byte
	if err := be.DB.QueryRowContext(ctx, "SELECT webhook_secret FROM assistants WHERE id = $1", a.ID).Scan(&secret); err != nil {
		t.Fatal(err)
	}
	if secret != nil {
		t.Errorf("an empty secret is stored as %x, want NULL", secret)
	}

	// The creation time is not the caller's to change.
	moved := a
	moved.CreatedAt = a.CreatedAt.Add(-time.Hour)
	if err := s.UpdateAssistant(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetAssistant(ctx, a.ID); !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("created_at changed to %v", got.CreatedAt)
	}

	if err := s.DeleteAssistant(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetAssistant(ctx, a.ID)
	MustCode(t, err, core.CodeNotFound, "id")
}

func testAssistantNotFound(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	a := AssistantFixture(t, "ghost")
	_, err := s.GetAssistant(ctx, a.ID)
	MustCode(t, err, core.CodeNotFound, "id")
	MustCode(t, s.UpdateAssistant(ctx, a), core.CodeNotFound, "id")
	MustCode(t, s.DeleteAssistant(ctx, a.ID, false), core.CodeNotFound, "id")
	MustCode(t, s.DeleteAssistant(ctx, a.ID, true), core.CodeNotFound, "id")
	if _, total, err := s.ListAssistants(ctx, core.Page{}); err != nil || total != 0 {
		t.Errorf("a failed update created something: total %d, %v", total, err)
	}
}

func testAssistantDuplicateID(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	a := AssistantFixture(t, "one")
	if err := s.CreateAssistant(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := a
	b.Name = "two"
	MustCode(t, s.CreateAssistant(ctx, b), core.CodeConflict, "id")
	if got, _ := s.GetAssistant(ctx, a.ID); got.Name != "one" {
		t.Errorf("name changed to %q", got.Name)
	}
}

func testListAssistantsPaging(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	var ids []string
	for i := range 7 {
		a := AssistantFixture(t, string(rune('a'+i)))
		if err := s.CreateAssistant(ctx, a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	var seen []string
	for offset := 0; ; offset += 3 {
		page, total, err := s.ListAssistants(ctx, core.Page{Limit: 3, Offset: offset})
		if err != nil {
			t.Fatal(err)
		}
		if total != 7 {
			t.Fatalf("total %d, want 7", total)
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			if a.WebhookSecret != "whsec-"+a.Name {
				t.Errorf("assistant %s: secret %q", a.Name, a.WebhookSecret)
			}
			seen = append(seen, a.ID)
		}
	}
	MustEqual(t, seen, ids)

	all, _, err := s.ListAssistants(ctx, core.Page{}) // default limit
	if err != nil || len(all) != 7 {
		t.Fatalf("default page: %d, %v", len(all), err)
	}
	_, _, err = s.ListAssistants(ctx, core.Page{Limit: core.MaxPageLimit + 1})
	MustCode(t, err, core.CodeInvalidRequest, "limit")
}

func testDeleteAssistantInUse(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	a := AssistantFixture(t, "Front desk")
	other := AssistantFixture(t, "Other")
	if err := s.CreateAssistant(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAssistant(ctx, other); err != nil {
		t.Fatal(err)
	}
	n1 := NumberFixture(t, "+31201234567", &a.ID, nil)
	n2 := NumberFixture(t, "+31201234568", &other.ID, nil)
	for _, n := range []core.PhoneNumber{n1, n2} {
		if err := s.CreatePhoneNumber(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	err := s.DeleteAssistant(ctx, a.ID, false)
	MustCode(t, err, core.CodeConflict, "id")
	if want := "assistant is used by phone number +31201234567; detach it first or delete with force"; core.AsError(err).Message != want {
		t.Errorf("message %q, want %q", core.AsError(err).Message, want)
	}
	if _, err := s.GetAssistant(ctx, a.ID); err != nil {
		t.Fatalf("a refused delete removed the assistant: %v", err)
	}
	if got, _ := s.GetPhoneNumber(ctx, n1.ID); got.AssistantID == nil {
		t.Fatal("a refused delete detached the number")
	}

	if err := s.DeleteAssistant(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetAssistant(ctx, a.ID)
	MustCode(t, err, core.CodeNotFound, "id")
	got, err := s.GetPhoneNumber(ctx, n1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AssistantID != nil {
		t.Errorf("number still has assistant %s", *got.AssistantID)
	}
	if got.UpdatedAt.Before(n1.UpdatedAt) {
		t.Errorf("updated_at went back: %v", got.UpdatedAt)
	}
	if got, _ := s.GetPhoneNumber(ctx, n2.ID); got.AssistantID == nil || *got.AssistantID != other.ID {
		t.Error("force detached another assistant's number")
	}
}
