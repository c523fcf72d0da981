package core

import (
	"strings"
	"testing"
)

func TestParseE164(t *testing.T) {
	tests := []struct {
		in       string
		wantCode Code
		wantType string
		region   string
	}{
		{"+31612345678", "", "mobile", "NL"},
		{"+442079460000", "", "fixed_line", "GB"},
		{"+12015550123", "", "fixed_line_or_mobile", "US"},
		{"", CodeMissingField, "", ""},
		{"0031612345678", CodeInvalidRequest, "", ""}, // no +: never guessed as a US or NL number
		{"0049301234567", CodeInvalidRequest, "", ""},
		{"31612345678", CodeInvalidRequest, "", ""},
		{"+31 6 12345678", CodeInvalidRequest, "", ""},
		{"+1 (201) 555-0123", CodeInvalidRequest, "", ""},
		{"+0612345678", CodeInvalidRequest, "", ""},
		{"+1234567890123456", CodeInvalidRequest, "", ""}, // 16 digits
		{"+441632960000", CodeInvalidRequest, "", ""},     // UK drama range: not a valid number
		{"+112", CodeInvalidRequest, "", ""},
		{"+31612345678\r\nX: y", CodeInvalidRequest, "", ""},
	}
	for _, tt := range tests {
		info, err := ParseE164("number", tt.in)
		if tt.wantCode != "" {
			if !HasCode(err, tt.wantCode) {
				t.Errorf("ParseE164(%q) = %v, want code %s", tt.in, err, tt.wantCode)
			}
			if AsError(err).Param != "number" {
				t.Errorf("ParseE164(%q) param = %q, want number", tt.in, AsError(err).Param)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseE164(%q) = %v", tt.in, err)
			continue
		}
		if info.E164 != tt.in || info.Type != tt.wantType || info.Region != tt.region {
			t.Errorf("ParseE164(%q) = %+v, want %s %s", tt.in, info, tt.wantType, tt.region)
		}
	}
}

func TestValidateSIPURI(t *testing.T) {
	tests := []struct {
		in   string
		want string
		code Code
	}{
		{"sip:desk@pbx.example.com", "sip:desk@pbx.example.com", ""},
		{"SIP:desk@pbx.example.com:5070;transport=tcp", "sip:desk@pbx.example.com:5070;transport=tcp", ""},
		{"sips:+31612345678@10.0.0.1", "sips:+31612345678@10.0.0.1", ""},
		{"sip:alice@[::1]:5060", "sip:alice@[::1]:5060", ""},
		{"", "", CodeMissingField},
		{"tel:+31612345678", "", CodeInvalidRequest},
		{"http://example.com", "", CodeInvalidRequest},
		{"sip:a@b>;x\r\nContact: <sip:evil@attacker>", "", CodeInvalidRequest},
		{"sip:a@b\nX-Evil: 1", "", CodeInvalidRequest},
		{"sip:a@b?Replaces=abc", "", CodeInvalidRequest},
		{"sip:a@b;method=BYE", "", CodeInvalidRequest},
		{"sip:a b@host", "", CodeInvalidRequest},
		{`sip:"a"@host`, "", CodeInvalidRequest},
		{"sip:a@host,sip:b@host", "", CodeInvalidRequest},
		{"sip:user:secret@host", "", CodeInvalidRequest},
		{"sip:", "", CodeInvalidRequest},
		{"sip:" + strings.Repeat("a", 300) + "@h", "", CodeInvalidRequest},
	}
	for _, tt := range tests {
		got, err := ValidateSIPURI("sip_uri", tt.in)
		if tt.code != "" {
			if !HasCode(err, tt.code) {
				t.Errorf("ValidateSIPURI(%q) = %q, %v; want %s", tt.in, got, err, tt.code)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ValidateSIPURI(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestValidateDestination(t *testing.T) {
	ok := Destination{Type: "number", Number: "+31612345678", Description: "sales"}
	tests := []struct {
		name  string
		d     Destination
		code  Code
		param string
	}{
		{"number", ok, "", ""},
		{"sip", Destination{Type: "sip", SIPURI: "sip:desk@pbx.example.com", Description: "desk"}, "", ""},
		{"no type", Destination{Number: "+31612345678", Description: "x"}, CodeMissingField, "d.type"},
		{"bad type", Destination{Type: "phone", Number: "+31612345678", Description: "x"}, CodeInvalidRequest, "d.type"},
		{"no description", Destination{Type: "number", Number: "+31612345678"}, CodeMissingField, "d.description"},
		{"no number", Destination{Type: "number", Description: "x"}, CodeMissingField, "d.number"},
		{"number with sip_uri", Destination{Type: "number", Number: "+31612345678", SIPURI: "sip:a@b", Description: "x"}, CodeInvalidRequest, "d.sip_uri"},
		{"sip with number", Destination{Type: "sip", SIPURI: "sip:a@b", Number: "+31612345678", Description: "x"}, CodeInvalidRequest, "d.number"},
		// The form is valid; the transfer policy refuses it (policy_test.go).
		{"premium", Destination{Type: "number", Number: "+449098790000", Description: "x"}, "", ""},
		{"long message", Destination{Type: "number", Number: "+31612345678", Description: "x", Message: strings.Repeat("m", 1001)}, CodeInvalidRequest, "d.message"},
	}
	for _, tt := range tests {
		_, err := ValidateDestination("d", tt.d)
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

func TestParseTarget(t *testing.T) {
	if d, err := ParseTarget("destination", "+31612345678"); err != nil || d.Type != DestinationNumber {
		t.Errorf("number: %+v %v", d, err)
	}
	if d, err := ParseTarget("destination", "sip:desk@pbx.example.com"); err != nil || d.Type != DestinationSIP {
		t.Errorf("sip: %+v %v", d, err)
	}
	if _, err := ParseTarget("destination", "desk"); !HasCode(err, CodeInvalidRequest) {
		t.Errorf("bare word: %v", err)
	}
}
