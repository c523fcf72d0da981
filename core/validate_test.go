package core

import (
	"encoding/json"
	"strings"
	"testing"
)

func validAssistant() AssistantConfig {
	return AssistantConfig{
		Name: "Support",
		LLMConfig: &LLMConfig{
			Messages: []Message{{Role: "system", Content: "Be kind."}},
			Tools: []Tool{
				{Type: "transfer_call", Destinations: []Destination{{Type: "number", Number: "+31612345678", Description: "human"}}},
				{Type: "end_call"},
			},
		},
	}
}

func TestValidateAssistant(t *testing.T) {
	temp := func(v float64) *float64 { return &v }
	tests := []struct {
		name   string
		mutate func(a *AssistantConfig)
		code   Code
		param  string
	}{
		{"valid", func(a *AssistantConfig) {}, "", ""},
		{"no name", func(a *AssistantConfig) { a.Name = " " }, CodeMissingField, "name"},
		{"long name", func(a *AssistantConfig) { a.Name = strings.Repeat("n", 101) }, CodeInvalidRequest, "name"},
		{"control char in name", func(a *AssistantConfig) { a.Name = "a\x00b" }, CodeInvalidRequest, "name"},
		{"long first message", func(a *AssistantConfig) { a.FirstMessage = strings.Repeat("x", 1001) }, CodeInvalidRequest, "first_message"},
		{"negative duration", func(a *AssistantConfig) { a.MaxDurationSeconds = -1 }, CodeInvalidRequest, "max_duration_seconds"},
		{"webhook not http", func(a *AssistantConfig) { a.WebhookURL = "ftp://x" }, CodeInvalidRequest, "webhook_url"},
		{"webhook with credentials", func(a *AssistantConfig) { a.WebhookURL = "https://u:p@x.example" }, CodeInvalidRequest, "webhook_url"},
		{"unknown event", func(a *AssistantConfig) { a.WebhookEvents = []string{"status-update", "nope"} }, CodeInvalidRequest, "webhook_events[1]"},
		{"temperature", func(a *AssistantConfig) { a.LLMConfig.Temperature = temp(2.5) }, CodeInvalidRequest, "llm_config.temperature"},
		{"role", func(a *AssistantConfig) { a.LLMConfig.Messages[0].Role = "tool" }, CodeInvalidRequest, "llm_config.messages[0].role"},
		{"prompt too long", func(a *AssistantConfig) { a.LLMConfig.Messages[0].Content = strings.Repeat("p", 20001) }, CodeInvalidRequest, "llm_config.messages[0].content"},
		{"too many messages", func(a *AssistantConfig) {
			a.LLMConfig.Messages = make([]Message, 51)
		}, CodeInvalidRequest, "llm_config.messages"},
		{"too many tools", func(a *AssistantConfig) {
			for range 20 {
				a.LLMConfig.Tools = append(a.LLMConfig.Tools, Tool{Type: "end_call"})
			}
		}, CodeInvalidRequest, "llm_config.tools"},
		{"tool type", func(a *AssistantConfig) { a.LLMConfig.Tools[1].Type = "dial" }, CodeInvalidRequest, "llm_config.tools[1].type"},
		{"transfer without destinations", func(a *AssistantConfig) { a.LLMConfig.Tools[0].Destinations = nil }, CodeMissingField, "llm_config.tools[0].destinations"},
		{"too many destinations", func(a *AssistantConfig) {
			d := a.LLMConfig.Tools[0].Destinations[0]
			for range 20 {
				a.LLMConfig.Tools[0].Destinations = append(a.LLMConfig.Tools[0].Destinations, d)
			}
		}, CodeInvalidRequest, "llm_config.tools[0].destinations"},
		{"duplicate destination", func(a *AssistantConfig) {
			d := a.LLMConfig.Tools[0].Destinations[0]
			a.LLMConfig.Tools[0].Destinations = append(a.LLMConfig.Tools[0].Destinations, d)
		}, CodeInvalidRequest, "llm_config.tools[0].destinations[1]"},
		{"bad destination number", func(a *AssistantConfig) { a.LLMConfig.Tools[0].Destinations[0].Number = "0612345678" }, CodeInvalidRequest, "llm_config.tools[0].destinations[0].number"},
		// The form is valid; the transfer policy refuses it (policy_test.go).
		{"premium destination", func(a *AssistantConfig) { a.LLMConfig.Tools[0].Destinations[0].Number = "+19002345678" }, "", ""},
		{"injected sip destination", func(a *AssistantConfig) {
			a.LLMConfig.Tools[0].Destinations[0] = Destination{Type: "sip", SIPURI: "sip:a@b>;x\r\nContact: <sip:evil@x>", Description: "x"}
		}, CodeInvalidRequest, "llm_config.tools[0].destinations[0].sip_uri"},
		{"end_call with destinations", func(a *AssistantConfig) {
			a.LLMConfig.Tools[1].Destinations = a.LLMConfig.Tools[0].Destinations
		}, CodeInvalidRequest, "llm_config.tools[1]"},
		{"function without name", func(a *AssistantConfig) {
			a.LLMConfig.Tools[1] = Tool{Type: "function", Description: "d"}
		}, CodeMissingField, "llm_config.tools[1].name"},
		{"function bad name", func(a *AssistantConfig) {
			a.LLMConfig.Tools[1] = Tool{Type: "function", Name: "9lives", Description: "d"}
		}, CodeInvalidRequest, "llm_config.tools[1].name"},
	}
	for _, tt := range tests {
		a := validAssistant()
		tt.mutate(&a)
		err := ValidateAssistant(&a)
		if tt.code == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !HasCode(err, tt.code) || AsError(err).Param != tt.param {
			t.Errorf("%s: got %v, want %s on %s", tt.name, err, tt.code, tt.param)
		}
	}
}

func TestValidateAssistantNormalisesAliases(t *testing.T) {
	a := validAssistant()
	a.LLMConfig.Tools[0].Type = "transferCall"
	a.LLMConfig.Tools[1].Type = "endCall"
	if err := ValidateAssistant(&a); err != nil {
		t.Fatal(err)
	}
	if a.LLMConfig.Tools[0].Type != ToolTransferCall || a.LLMConfig.Tools[1].Type != ToolEndCall {
		t.Errorf("aliases not normalised: %+v", a.LLMConfig.Tools)
	}
}

func TestValidateTrunk(t *testing.T) {
	tests := []struct {
		name  string
		t     TrunkConfig
		code  Code
		param string
		port  int
	}{
		{"defaults", TrunkConfig{Name: "pbx", Host: "pbx.example.com"}, "", "", 5060},
		{"tls default port", TrunkConfig{Name: "pbx", Host: "10.0.0.1", Transport: "TLS"}, "", "", 5061},
		{"ipv6", TrunkConfig{Name: "pbx", Host: "::1", Port: 5080}, "", "", 5080},
		{"no name", TrunkConfig{Host: "pbx"}, CodeMissingField, "name", 0},
		{"no host", TrunkConfig{Name: "pbx"}, CodeMissingField, "host", 0},
		{"host with scheme", TrunkConfig{Name: "pbx", Host: "sip:pbx.example.com"}, CodeInvalidRequest, "host", 0},
		{"host with port", TrunkConfig{Name: "pbx", Host: "pbx.example.com:5060"}, CodeInvalidRequest, "host", 0},
		{"port", TrunkConfig{Name: "pbx", Host: "pbx", Port: 70000}, CodeInvalidRequest, "port", 0},
		{"transport", TrunkConfig{Name: "pbx", Host: "pbx", Transport: "ws"}, CodeInvalidRequest, "transport", 0},
		{"password without user", TrunkConfig{Name: "pbx", Host: "pbx", Password: "pw"}, CodeMissingField, "username", 0},
		{"user with quote", TrunkConfig{Name: "pbx", Host: "pbx", Username: `a"b`}, CodeInvalidRequest, "username", 0},
	}
	for _, tt := range tests {
		err := ValidateTrunk(&tt.t)
		if tt.code == "" {
			if err != nil || tt.t.Port != tt.port {
				t.Errorf("%s: %v, port %d", tt.name, err, tt.t.Port)
			}
			continue
		}
		if !HasCode(err, tt.code) || AsError(err).Param != tt.param {
			t.Errorf("%s: got %v, want %s on %s", tt.name, err, tt.code, tt.param)
		}
	}
}

func TestValidatePhoneNumber(t *testing.T) {
	empty := ""
	tests := []struct {
		n     PhoneNumberConfig
		code  Code
		param string
	}{
		{PhoneNumberConfig{PhoneNumber: "+31850835037"}, "", ""},
		{PhoneNumberConfig{PhoneNumber: "0850835037"}, CodeInvalidRequest, "phone_number"},
		{PhoneNumberConfig{}, CodeMissingField, "phone_number"},
		{PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &empty}, CodeInvalidRequest, "assistant_id"},
	}
	for _, tt := range tests {
		err := ValidatePhoneNumber(&tt.n)
		if tt.code == "" && err != nil {
			t.Errorf("%+v: %v", tt.n, err)
		}
		if tt.code != "" && (!HasCode(err, tt.code) || AsError(err).Param != tt.param) {
			t.Errorf("%+v: got %v, want %s on %s", tt.n, err, tt.code, tt.param)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		in    string
		code  Code
		param string
	}{
		{`{"name":"x"}`, "", ""},
		{`{"name":"x","nme":"y"}`, CodeInvalidRequest, "nme"},
		{`{"name":5}`, CodeInvalidRequest, "name"},
		{`{"name":"x"} {}`, CodeInvalidRequest, ""},
		{`{"name":`, CodeInvalidRequest, ""},
		{`[1]`, CodeInvalidRequest, ""},
	}
	for _, tt := range tests {
		var a AssistantConfig
		err := DecodeStrict(json.RawMessage(tt.in), &a)
		if tt.code == "" && err != nil {
			t.Errorf("%s: %v", tt.in, err)
		}
		if tt.code != "" && (!HasCode(err, tt.code) || AsError(err).Param != tt.param) {
			t.Errorf("%s: got %v, want %s on %q", tt.in, err, tt.code, tt.param)
		}
	}
}

func TestPageNormalize(t *testing.T) {
	if p, err := (Page{}).Normalize(); err != nil || p.Limit != DefaultPageLimit {
		t.Errorf("default: %+v %v", p, err)
	}
	for _, p := range []Page{{Limit: 101}, {Limit: -1}, {Offset: -1}} {
		if _, err := p.Normalize(); !HasCode(err, CodeInvalidRequest) {
			t.Errorf("%+v: %v", p, err)
		}
	}
}
