package core

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/core/numbering"
)

// FuzzParseTarget feeds free-form transfer destinations. Whatever is
// accepted must be a strict E.164 number or a SIP URI that cannot break
// out of a header; nothing may panic.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"+31612345678", "+449098790000", "0031612345678", "sip:desk@pbx.example.com",
		"sips:+31612345678@10.0.0.1:5061;transport=tls", "sip:a@b>;x\r\nContact: <sip:evil@x>",
		"sip:a@b?Replaces=x", "sip:[::1]", "SIP:A@B", "tel:+1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTarget("destination", s)
		if err != nil {
			if AsError(err).Code == CodeInternal {
				t.Fatalf("internal error for %q: %v", s, err)
			}
			return
		}
		target := d.Target()
		if strings.ContainsAny(target, "\r\n <>\"?,") {
			t.Fatalf("accepted %q as %q, which could inject a header", s, target)
		}
		switch d.Type {
		case DestinationNumber:
			if !numbering.IsE164Shape(target) {
				t.Fatalf("accepted number %q is not E.164", target)
			}
		case DestinationSIP:
			// A canonical URI validates again to itself.
			again, err := ValidateSIPURI("x", target)
			if err != nil || again != target {
				t.Fatalf("canonical %q does not round-trip: %q %v", target, again, err)
			}
		default:
			t.Fatalf("unknown type %q", d.Type)
		}
	})
}

// FuzzDecodeAssistant feeds create_assistant inputs through the strict
// decoder and the validator: errors must be *Error with a code, never
// internal, and an accepted assistant must survive a JSON round trip.
func FuzzDecodeAssistant(f *testing.F) {
	f.Add(`{"name":"A","llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"+31612345678","description":"d"}]}]}}`)
	f.Add(`{"name":"A","llm_config":{"tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object"}}]}}`)
	f.Add(`{"name":"x","webhook_events":["status-update"],"llm_config":{"temperature":0.3}}`)
	f.Add(`{"name":1}`)
	f.Fuzz(func(t *testing.T, in string) {
		var a AssistantConfig
		if err := DecodeStrict([]byte(in), &a); err != nil {
			if AsError(err).Code != CodeInvalidRequest {
				t.Fatalf("decode %q: %v", in, err)
			}
			return
		}
		if err := ValidateAssistant(&a); err != nil {
			if AsError(err).Code == CodeInternal {
				t.Fatalf("validate %q: %v", in, err)
			}
			return
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var back AssistantConfig
		if err := DecodeStrict(b, &back); err != nil {
			t.Fatalf("accepted assistant does not decode again: %s: %v", b, err)
		}
		if err := ValidateAssistant(&back); err != nil {
			t.Fatalf("accepted assistant does not validate again: %s: %v", b, err)
		}
	})
}
