package core

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"unicode/utf8"
)

// replyStore is the store as askForAssistant uses it: assistants by id.
type replyStore struct {
	Store      // nil: nothing else is called
	assistants map[string]Assistant
}

func (s replyStore) GetAssistant(_ context.Context, id string) (Assistant, error) {
	a, ok := s.assistants[id]
	if !ok {
		return Assistant{}, Errorf(CodeNotFound, "no assistant %s", id)
	}
	return a, nil
}

// cannedReply is an assistant-request receiver that answers body.
type cannedReply []byte

func (r cannedReply) RequestAssistant(context.Context, string, string, []byte) ([]byte, error) {
	return r, nil
}

func fuzzAssistants() (current, other Assistant) {
	active := true
	current = Assistant{ID: "asst_current", AssistantConfig: AssistantConfig{
		Name: "Front desk", FirstMessage: "Hello", WebhookURL: "https://hooks.example.com/vd",
		WebhookEvents: []string{WebhookAssistantRequest}, IsActive: &active,
		LLMConfig: &LLMConfig{Tools: []Tool{{Type: "transfer_call", Destinations: []Destination{
			{Type: "number", Number: "+31612345678", Description: "sales"},
		}}}},
	}}
	other = Assistant{ID: "asst_other", AssistantConfig: AssistantConfig{Name: "Night line", MaxDurationSeconds: 600}}
	return current, other
}

// FuzzAssistantReply feeds arbitrary assistant-request reply bodies to
// the reply handling of an inbound call. Whatever the body, the outcome is
// the defaults (the number's assistant, untouched), a stored assistant, a
// valid override of one, or a rejection with a short, valid UTF-8 reason;
// it never panics and never changes the stored assistant it started from.
func FuzzAssistantReply(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"assistant_id":"asst_other"}`, `{"assistant_id":"asst_missing"}`,
		`{"assistant":{"first_message":"Hi there"}}`, `{"assistant":{"name":""}}`, `{"assistant":null}`,
		`{"assistant":{"webhook_events":null,"llm_config":{"tools":[]}}}`, `{"assistant":{"id":"asst_x"}}`,
		`{"assistant":{"unknown_field":1}}`, `{"assistant_id":"asst_other","assistant":{"first_message":"Night"}}`,
		`{"error":"closed today"}`, `{"error":""}`, `{"max_duration_seconds":60}`, `{"max_duration_seconds":99999999}`,
		`{"max_duration_seconds":-5}`, `{"assistant":{"max_duration_seconds":50000}}`,
		`{"error":"ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé"}`,
		`{"assistant":{"llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"+449098790000"}]}]}}}`,
		`{"assistant_id":`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	ctx := context.Background()
	// The fixture is validated once, here, not on every execution (its
	// number's parsing was a third of each one): validation leaves it as
	// fuzzAssistants builds it, so each execution's fresh copies are the
	// validated assistants.
	validated, other := fuzzAssistants()
	if err := ValidateAssistant(&validated.AssistantConfig); err != nil {
		f.Fatalf("the fixture is not valid: %v", err)
	}
	if fresh, _ := fuzzAssistants(); !reflect.DeepEqual(validated, fresh) {
		f.Fatalf("validation changes the fixture: %+v, built %+v", validated, fresh)
	}
	pristine, _ := json.Marshal(map[string]Assistant{validated.ID: validated, other.ID: other})
	f.Fuzz(func(t *testing.T, reply []byte) {
		current, other := fuzzAssistants()
		stored := map[string]Assistant{current.ID: current, other.ID: other}
		m := NewCalls(ctx, CallsConfig{}, replyStore{assistants: stored}, nil, NewBus(), slog.New(slog.DiscardHandler))
		m.SetAssistantRequester(cannedReply(reply))
		cur := current
		setup := m.askForAssistant(ctx, PhoneNumber{ID: "pn_1", PhoneNumberConfig: PhoneNumberConfig{PhoneNumber: "+31850835037"}}, &cur,
			InboundInvite{Caller: "+15550100001", Called: "31850835037"})

		if after, _ := json.Marshal(stored); string(after) != string(pristine) {
			t.Fatalf("the stored assistants changed:\n%s\n%s", pristine, after)
		}
		if !reflect.DeepEqual(cur, current) {
			t.Fatalf("the number's assistant was changed in place: %+v", cur)
		}
		if setup.reject != "" {
			if !utf8.ValidString(setup.reject) || len(setup.reject) > 64+len("...") {
				t.Fatalf("rejection reason %q is not short valid UTF-8", setup.reject)
			}
			return
		}
		a := setup.assistant
		switch {
		case a == nil:
			t.Fatal("no assistant and no rejection")
		case a == &cur:
			return // the defaults
		case a.ID != current.ID && a.ID != other.ID:
			t.Fatalf("the call got assistant %q, which is not stored", a.ID)
		}
		cfg := a.AssistantConfig
		if err := ValidateAssistant(&cfg); err != nil {
			t.Fatalf("reply %q gave an invalid assistant: %v", reply, err)
		}
	})
}
