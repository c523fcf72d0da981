package core_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// openStore opens an empty SQLite store for a test.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "vd.db"), make([]byte, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustPolicy(t *testing.T, cfg core.PolicyConfig) *core.Policy {
	t.Helper()
	p, err := core.NewPolicy(cfg)
	if err != nil {
		t.Fatalf("NewPolicy(%+v): %v", cfg, err)
	}
	return p
}

func number(n string) core.Destination {
	return core.Destination{Type: core.DestinationNumber, Number: n}
}
func sipURI(u string) core.Destination { return core.Destination{Type: core.DestinationSIP, SIPURI: u} }
func boolPtr(b bool) *bool             { return &b }

// TestPolicyRules checks each rule with real numbers, refused and allowed,
// against an explicit configuration (no store needed).
func TestPolicyRules(t *testing.T) {
	eu := core.PolicyConfig{
		AllowedCountries:  []string{"NL", "BE", "GB", "US", "FR"},
		SIPAllowedDomains: []string{"pbx.example.com", "*.corp.example", "10.0.0.5"},
	}
	tests := []struct {
		name    string
		cfg     core.PolicyConfig
		dest    core.Destination
		allowed bool
		rule    string
		reason  string // a substring of the reason
		region  string
		typ     string
	}{
		// Costly number types, denied by default.
		{"UK 09 premium rate", eu, number("+449098790000"), false, core.RuleDeniedTypes, "premium-rate numbers are denied (VOICEDOCK_TRANSFER_DENIED_TYPES)", "GB", "premium_rate"},
		{"US 900 premium rate", eu, number("+19002345678"), false, core.RuleDeniedTypes, "premium-rate numbers are denied (VOICEDOCK_TRANSFER_DENIED_TYPES)", "US", "premium_rate"},
		{"FR shared cost", eu, number("+33884012345"), false, core.RuleDeniedTypes, "shared-cost numbers are denied", "FR", "shared_cost"},
		{"UK personal", eu, number("+447012345678"), false, core.RuleDeniedTypes, "personal numbers are denied", "GB", "personal"},
		{"UK pager", eu, number("+447640123456"), false, core.RuleDeniedTypes, "pager numbers are denied", "GB", "pager"},
		{"UK UAN", eu, number("+445512345678"), false, core.RuleDeniedTypes, "UAN (universal access) numbers are denied", "GB", "uan"},
		{"NL mobile allowed", eu, number("+31612345678"), true, core.RuleDeployment, "passes the deployment's transfer rules", "NL", "mobile"},
		{"US toll-free allowed by default", eu, number("+18005550100"), true, core.RuleDeployment, "", "US", "toll_free"},
		{"UK fixed line allowed", eu, number("+442079460000"), true, core.RuleDeployment, "", "GB", "fixed_line"},
		// The types are configuration.
		{"toll-free denied when configured", core.PolicyConfig{AllowedCountries: []string{"US"}, DeniedTypes: []string{"toll_free"}}, number("+18005550100"), false, core.RuleDeniedTypes, "toll-free numbers are denied", "US", "toll_free"},
		{"premium allowed with none", core.PolicyConfig{AllowedCountries: []string{"*"}, DeniedTypes: []string{"none"}}, number("+449098790000"), true, core.RuleDeployment, "", "GB", "premium_rate"},
		{"US number when mobile and fixed_line are denied", core.PolicyConfig{AllowedCountries: []string{"US"}, DeniedTypes: []string{"mobile", "fixed_line"}}, number("+12015550123"), false, core.RuleDeniedTypes, "fixed-line-or-mobile", "US", "fixed_line_or_mobile"},
		{"US number when only mobile is denied", core.PolicyConfig{AllowedCountries: []string{"US"}, DeniedTypes: []string{"mobile"}}, number("+12015550123"), true, core.RuleDeployment, "", "US", "fixed_line_or_mobile"},
		// Emergency numbers written in E.164, whatever the configuration.
		{"NL 112", eu, number("+31112"), false, core.RuleEmergency, "+31112 is 112, the emergency number of NL", "NL", "emergency"},
		{"US 911", eu, number("+1911"), false, core.RuleEmergency, "the emergency number of US", "US", "emergency"},
		{"UK 999", eu, number("+44999"), false, core.RuleEmergency, "the emergency number of GB", "GB", "emergency"},
		{"DE 112", eu, number("+49112"), false, core.RuleEmergency, "emergency numbers are never transfer destinations", "DE", "emergency"},
		{"FR 112 with everything allowed", core.PolicyConfig{AllowedCountries: []string{"*"}, DeniedTypes: []string{"none"}, SIPAllowedDomains: []string{"*"}}, number("+33112"), false, core.RuleEmergency, "", "FR", "emergency"},
		// Countries.
		{"country outside the list", eu, number("+4930123456"), false, core.RuleAllowedCountries, "country DE of +4930123456 is not in VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES (BE, FR, GB, NL, US)", "DE", "fixed_line"},
		{"calling codes", core.PolicyConfig{AllowedCountries: []string{"31", "+32"}}, number("+3212345678"), true, core.RuleDeployment, "", "BE", "fixed_line"},
		{"calling codes refuse others", core.PolicyConfig{AllowedCountries: []string{"31", "+32"}}, number("+4930123456"), false, core.RuleAllowedCountries, "not in VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES (+31, +32)", "DE", "fixed_line"},
		{"US is not Jamaica", eu, number("+18765550123"), false, core.RuleAllowedCountries, "country JM", "JM", "mobile"},
		{"calling code 1 is all of NANP", core.PolicyConfig{AllowedCountries: []string{"1"}}, number("+18765550123"), true, core.RuleDeployment, "", "JM", "mobile"},
		{"UK means GB", core.PolicyConfig{AllowedCountries: []string{"uk"}}, number("+442079460000"), true, core.RuleDeployment, "", "GB", "fixed_line"},
		// SIP hosts.
		{"allowed host", eu, sipURI("sip:desk@pbx.example.com"), true, core.RuleDeployment, "", "", ""},
		{"allowed host, other case and port", eu, sipURI("sip:desk@PBX.Example.com:5070;transport=tcp"), true, core.RuleDeployment, "", "", ""},
		{"subdomain wildcard", eu, sipURI("sips:desk@eu.corp.example"), true, core.RuleDeployment, "", "", ""},
		{"wildcard is not the parent", eu, sipURI("sip:desk@corp.example"), false, core.RuleSIPDomains, "corp.example is not an allowed SIP domain", "", ""},
		{"SIP domain outside the list", eu, sipURI("sip:desk@pbx.evil.example"), false, core.RuleSIPDomains, "pbx.evil.example is not an allowed SIP domain (VOICEDOCK_SIP_ALLOWED_DOMAINS: *.corp.example, 10.0.0.5, pbx.example.com)", "", ""},
		{"lookalike suffix", eu, sipURI("sip:desk@evilcorp.example"), false, core.RuleSIPDomains, "evilcorp.example is not an allowed SIP domain", "", ""},
		{"allowed address", eu, sipURI("sip:desk@10.0.0.5"), true, core.RuleDeployment, "", "", ""},
		// A number in a SIP URI is dialled by whoever gets it.
		{"premium number through an allowed PBX", eu, sipURI("sip:+449098790000@pbx.example.com;user=phone"), false, core.RuleDeniedTypes, "premium-rate numbers are denied", "GB", "premium_rate"},
		{"escaped +", eu, sipURI("sip:%2B19002345678@pbx.example.com"), false, core.RuleDeniedTypes, "premium-rate", "US", "premium_rate"},
		{"visual separators", eu, sipURI("sip:+44-909-879-0000@pbx.example.com"), false, core.RuleDeniedTypes, "premium-rate", "GB", "premium_rate"},
		{"country in a SIP URI", eu, sipURI("sip:+4930123456@pbx.example.com"), false, core.RuleAllowedCountries, "country DE", "DE", "fixed_line"},
		{"international prefix form", eu, sipURI("sip:00449098790000@pbx.example.com"), false, core.RuleSIPNumberForm, "not in E.164 form", "", ""},
		{"911 through a PBX", eu, sipURI("sip:911@pbx.example.com"), false, core.RuleEmergency, "emergency numbers are never transfer destinations", "", "emergency"},
		{"a deployment country's emergency number", eu, sipURI("sip:17@pbx.example.com"), false, core.RuleEmergency, "the emergency number of FR", "", "emergency"},
		{"extension", eu, sipURI("sip:1001@pbx.example.com"), true, core.RuleDeployment, "", "", ""},
		{"allowed number through a PBX", eu, sipURI("sip:+31612345678@pbx.example.com"), true, core.RuleDeployment, "", "NL", "mobile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.cfg)
			v, err := p.Check(t.Context(), nil, tt.dest, nil)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if v.Allowed != tt.allowed || v.Rule != tt.rule || !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("verdict %+v\nwant allowed=%v rule=%s reason containing %q", v, tt.allowed, tt.rule, tt.reason)
			}
			if v.Region != tt.region || v.NumberType != tt.typ {
				t.Errorf("number facts: region %q type %q, want %q %q", v.Region, v.NumberType, tt.region, tt.typ)
			}
			err = v.Err("destination")
			if tt.allowed != (err == nil) || (err != nil && (!core.HasCode(err, core.CodeDestinationNotAllowed) || core.AsError(err).Param != "destination")) {
				t.Errorf("Err: %v", err)
			}
		})
	}
}

// TestEmergencyNumbersAsLibphonenumberSeesThem records what libphonenumber
// says of emergency numbers written in E.164, and why the policy looks
// past it: "+1911" is no emergency number to IsEmergencyNumber, which
// refuses a leading +, and no valid number either, but a trunk may route it
// to 911.
func TestEmergencyNumbersAsLibphonenumberSeesThem(t *testing.T) {
	for _, tt := range []struct {
		e164, short, region string
	}{
		{"+31112", "112", "NL"}, {"+1911", "911", "US"}, {"+44999", "999", "GB"}, {"+49112", "112", "DE"}, {"+33112", "112", "FR"},
	} {
		if !phonenumbers.IsEmergencyNumber(tt.short, tt.region) {
			t.Errorf("libphonenumber: %s is not an emergency number of %s", tt.short, tt.region)
		}
		if phonenumbers.IsEmergencyNumber(tt.e164, tt.region) {
			t.Errorf("libphonenumber now calls %s an emergency number; the special case may go", tt.e164)
		}
		if n, err := phonenumbers.Parse(tt.e164, "ZZ"); err == nil && phonenumbers.IsValidNumber(n) {
			t.Errorf("libphonenumber calls %s a valid number", tt.e164)
		}
		// The form checks let it through so that the policy refuses it
		// as an emergency number rather than as malformed.
		d, err := core.ParseTarget("destination", tt.e164)
		if err != nil {
			t.Errorf("ParseTarget(%s): %v", tt.e164, err)
		}
		v, err := mustPolicy(t, core.PolicyConfig{AllowedCountries: []string{"*"}}).Check(t.Context(), nil, d, nil)
		if err != nil || v.Allowed || v.Rule != core.RuleEmergency {
			t.Errorf("%s: %+v %v", tt.e164, v, err)
		}
	}
	// +112 is not E.164 of anything: country code 1, national number 12.
	if _, err := core.ParseTarget("destination", "+112"); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Errorf("+112: %v", err)
	}
	if _, err := mustPolicy(t, core.PolicyConfig{}).Check(t.Context(), nil, number("+112"), nil); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Errorf("Check(+112): %v", err)
	}
}

func TestPolicyMalformedDestinations(t *testing.T) {
	p := mustPolicy(t, core.PolicyConfig{AllowedCountries: []string{"*"}, SIPAllowedDomains: []string{"*"}})
	for _, d := range []core.Destination{
		sipURI("sip:a@b>;x\r\nContact: <sip:evil@x>"),
		sipURI("sip:desk@pbx.example.com?Replaces=x"),
		sipURI("sip:+1 900@pbx.example.com"),
		number("0031612345678"),
		number("+31 6 12345678"),
		{Type: "tel", Number: "+31612345678"},
	} {
		v, err := p.Check(t.Context(), nil, d, nil)
		if !core.HasCode(err, core.CodeInvalidRequest) || core.AsError(err).Param != "destination" || v.Allowed {
			t.Errorf("%+v: %+v %v, want invalid_request on destination", d, v, err)
		}
	}
	if _, err := core.ParseTarget("destination", "sip:a@b>;x\r\nContact: <sip:evil@x>"); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Errorf("ParseTarget of a header injection: %v", err)
	}
}

func TestNewPolicyRefusesBadConfiguration(t *testing.T) {
	for _, cfg := range []core.PolicyConfig{
		{DeniedTypes: []string{"premium"}},
		{DeniedTypes: []string{"none", "mobile"}},
		{AllowedCountries: []string{"XX"}},
		{AllowedCountries: []string{"999"}},
		{AllowedCountries: []string{"031"}},
		{AllowedCountries: []string{"Netherlands"}},
		{SIPAllowedDomains: []string{"pbx.example.com:5060"}},
		{SIPAllowedDomains: []string{"sip:pbx.example.com"}},
		{SIPAllowedDomains: []string{"*.10.0.0.1"}},
		{SIPAllowedDomains: []string{"a.*.example.com"}},
	} {
		if _, err := core.NewPolicy(cfg); err == nil {
			t.Errorf("NewPolicy(%+v) accepted", cfg)
		}
	}
	if _, err := core.NewPolicy(core.PolicyConfig{DeniedTypes: []string{"Premium-Rate", " personal_number ", "voip"}, AllowedCountries: []string{"nl", " +1"}}); err != nil {
		t.Errorf("lenient spellings: %v", err)
	}
}

// TestPolicyPerAssistant checks that an assistant's transfer_policy only
// narrows the deployment's rules.
func TestPolicyPerAssistant(t *testing.T) {
	deployment := core.PolicyConfig{AllowedCountries: []string{"NL", "BE"}, SIPAllowedDomains: []string{"pbx.example.com"}}
	assistant := func(tp *core.TransferPolicy) *core.Assistant {
		return &core.Assistant{ID: "a1", AssistantConfig: core.AssistantConfig{Name: "A", TransferPolicy: tp, LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
			Type: core.ToolTransferCall, Destinations: []core.Destination{
				{Type: "number", Number: "+31612345678", Description: "sales"},
				{Type: "number", Number: "+3212345678", Description: "Brussels"},
				{Type: "sip", SIPURI: "sip:desk@pbx.example.com", Description: "desk"},
			},
		}}}}}
	}
	tests := []struct {
		name    string
		adhoc   bool
		tp      *core.TransferPolicy
		dest    core.Destination
		allowed bool
		rule    string
		reason  string
	}{
		{"configured, no narrowing", false, nil, number("+3212345678"), true, core.RuleConfigured, "one of the assistant's transfer destinations"},
		{"configured SIP", false, nil, sipURI("sip:desk@pbx.example.com"), true, core.RuleConfigured, ""},
		{"narrowed to NL", false, &core.TransferPolicy{AllowedCountries: []string{"NL"}}, number("+3212345678"), false, core.RuleAssistantCountries, "country BE of +3212345678 is not in the assistant's transfer_policy.allowed_countries (NL)"},
		{"NL within the narrowing", false, &core.TransferPolicy{AllowedCountries: []string{"NL"}}, number("+31612345678"), true, core.RuleConfigured, ""},
		{"cannot widen", false, &core.TransferPolicy{AllowedCountries: []string{"DE"}}, number("+4930123456"), false, core.RuleAllowedCountries, "not in VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES"},
		{"not configured, ad-hoc off", false, nil, number("+31201234567"), false, core.RuleAdhoc, "ad-hoc transfers are off (VOICEDOCK_ALLOW_ADHOC_TRANSFERS)"},
		{"assistant's allow_adhoc cannot widen", false, &core.TransferPolicy{AllowAdhoc: boolPtr(true)}, number("+31201234567"), false, core.RuleAdhoc, "VOICEDOCK_ALLOW_ADHOC_TRANSFERS"},
		{"ad-hoc on", true, nil, number("+31201234567"), true, core.RuleAdhoc, "ad-hoc transfers are allowed"},
		{"ad-hoc on, assistant's allow_adhoc true", true, &core.TransferPolicy{AllowAdhoc: boolPtr(true)}, number("+31201234567"), true, core.RuleAdhoc, ""},
		{"ad-hoc on, assistant opts out", true, &core.TransferPolicy{AllowAdhoc: boolPtr(false)}, number("+31201234567"), false, core.RuleAdhoc, "transfer_policy.allow_adhoc is false"},
		{"ad-hoc still follows the rules", true, nil, number("+4930123456"), false, core.RuleAllowedCountries, "country DE"},
		{"ad-hoc premium", true, nil, number("+449098790000"), false, core.RuleDeniedTypes, "premium-rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := deployment
			cfg.AllowAdhoc = tt.adhoc
			v, err := mustPolicy(t, cfg).Check(t.Context(), nil, tt.dest, assistant(tt.tp))
			if err != nil {
				t.Fatal(err)
			}
			if v.Allowed != tt.allowed || v.Rule != tt.rule || !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("verdict %+v\nwant allowed=%v rule=%s reason containing %q", v, tt.allowed, tt.rule, tt.reason)
			}
		})
	}

	p := mustPolicy(t, deployment)
	capped := assistant(&core.TransferPolicy{MaxTransfersPerCall: 2})
	if v := p.CheckAttempts(capped, 1); !v.Allowed {
		t.Errorf("second attempt of 2: %+v", v)
	}
	if v := p.CheckAttempts(capped, 2); v.Allowed || v.Rule != core.RuleMaxTransfers || !strings.Contains(v.Reason, "max_transfers_per_call is 2") {
		t.Errorf("third attempt of 2: %+v", v)
	}
	if v := p.CheckAttempts(assistant(nil), 50); !v.Allowed {
		t.Errorf("no cap: %+v", v)
	}
}

func TestValidateTransferPolicy(t *testing.T) {
	base := func(tp *core.TransferPolicy) core.AssistantConfig {
		return core.AssistantConfig{Name: "A", TransferPolicy: tp}
	}
	tests := []struct {
		tp    *core.TransferPolicy
		code  core.Code
		param string
	}{
		{&core.TransferPolicy{AllowedCountries: []string{"nl", "+32", "uk"}, MaxTransfersPerCall: 3}, "", ""},
		{&core.TransferPolicy{AllowedCountries: []string{"NL", "Narnia"}}, core.CodeInvalidRequest, "transfer_policy.allowed_countries[1]"},
		{&core.TransferPolicy{AllowedCountries: []string{"NL", "nl"}}, core.CodeInvalidRequest, "transfer_policy.allowed_countries[1]"},
		{&core.TransferPolicy{AllowedCountries: []string{"*"}}, core.CodeInvalidRequest, "transfer_policy.allowed_countries[0]"},
		{&core.TransferPolicy{MaxTransfersPerCall: -1}, core.CodeInvalidRequest, "transfer_policy.max_transfers_per_call"},
		{&core.TransferPolicy{MaxTransfersPerCall: 101}, core.CodeInvalidRequest, "transfer_policy.max_transfers_per_call"},
	}
	for _, tt := range tests {
		a := base(tt.tp)
		err := core.ValidateAssistant(&a)
		if tt.code == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.tp, err)
			} else if got := strings.Join(a.TransferPolicy.AllowedCountries, ","); got != "NL,32,GB" {
				t.Errorf("countries normalised to %s", got)
			}
			continue
		}
		if !core.HasCode(err, tt.code) || core.AsError(err).Param != tt.param {
			t.Errorf("%+v: %v, want %s on %s", tt.tp, err, tt.code, tt.param)
		}
	}
}

// TestPolicyDefaultsFromTheStore checks the rules that default to the
// deployment's own numbers and trunks.
func TestPolicyDefaultsFromTheStore(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	p := mustPolicy(t, core.PolicyConfig{}) // countries and domains unset
	svc := core.NewConfiguration(st, slog.New(slog.DiscardHandler))
	svc.SetPolicy(p)

	// Nothing registered: no country, no SIP host.
	v, err := p.Check(ctx, st, number("+31612345678"), nil)
	if err != nil || v.Allowed || v.Rule != core.RuleAllowedCountries || !strings.Contains(v.Reason, "none is registered") {
		t.Fatalf("no numbers: %+v %v", v, err)
	}
	v, err = p.Check(ctx, st, sipURI("sip:desk@127.0.0.1"), nil)
	if err != nil || v.Allowed || v.Rule != core.RuleSIPDomains || !strings.Contains(v.Reason, "there are none") {
		t.Fatalf("no trunks: %+v %v", v, err)
	}
	// An assistant is usually set up before its number and trunk: those
	// rules wait for something to derive them from.
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "Early", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
		Type: core.ToolTransferCall, Destinations: []core.Destination{
			{Type: "number", Number: "+31612345678", Description: "sales"},
			{Type: "sip", SIPURI: "sip:desk@127.0.0.1:5070", Description: "desk"},
		},
	}}}})
	if err != nil {
		t.Fatalf("assistant before numbers and trunks: %v", err)
	}
	// ... but types are not derived: premium is refused at once.
	_, err = svc.CreateAssistant(ctx, core.AssistantConfig{Name: "Costly", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
		Type: core.ToolTransferCall, Destinations: []core.Destination{{Type: "number", Number: "+19002345678", Description: "x"}},
	}}}})
	if !core.HasCode(err, core.CodeDestinationNotAllowed) || core.AsError(err).Param != "llm_config.tools[0].destinations[0].number" {
		t.Fatalf("premium destination: %v", err)
	}

	tr, _, err := svc.ConfigureTrunk(ctx, "", core.TrunkConfig{Name: "pbx", Host: "127.0.0.1", Port: 5070}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID, TransferTrunkID: &tr.ID}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dest    core.Destination
		allowed bool
		rule    string
		reason  string
	}{
		{number("+31612345678"), true, core.RuleDeployment, ""},
		{number("+3212345678"), false, core.RuleAllowedCountries, "country BE of +3212345678 is not a country of this deployment's own phone numbers (NL)"},
		{number("+4930123456"), false, core.RuleAllowedCountries, "VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES is not set"},
		{sipURI("sip:desk@127.0.0.1:5070"), true, core.RuleDeployment, ""},
		{sipURI("sip:desk@[::ffff:127.0.0.1]"), true, core.RuleDeployment, ""},
		{sipURI("sip:desk@10.9.9.9"), false, core.RuleSIPDomains, "10.9.9.9 is not an allowed SIP domain; VOICEDOCK_SIP_ALLOWED_DOMAINS is not set, so only the hosts of the configured trunks (127.0.0.1) are"},
		{sipURI("sip:112@127.0.0.1"), false, core.RuleEmergency, ""},
	}
	for _, tt := range tests {
		v, err := p.Check(ctx, st, tt.dest, nil)
		if err != nil || v.Allowed != tt.allowed || v.Rule != tt.rule || !strings.Contains(v.Reason, tt.reason) {
			t.Errorf("%+v: %+v %v\nwant allowed=%v rule=%s reason containing %q", tt.dest, v, err, tt.allowed, tt.rule, tt.reason)
		}
	}
	// Now that there is a number, configuration follows it too.
	_, err = svc.UpdateAssistant(ctx, a.ID, []byte(`{"llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"+4930123456","description":"Berlin"}]}]}}`))
	if !core.HasCode(err, core.CodeDestinationNotAllowed) || core.AsError(err).Param != "llm_config.tools[0].destinations[0].number" || !strings.Contains(err.Error(), "country DE") {
		t.Fatalf("update to a DE destination: %v", err)
	}
	if got, _ := svc.GetAssistant(ctx, a.ID); len(got.TransferDestinations()) != 2 {
		t.Errorf("a refused update changed the assistant: %+v", got.TransferDestinations())
	}
}

func TestCheckDestinationRoute(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	svc := core.NewConfiguration(st, slog.New(slog.DiscardHandler))
	svc.SetPolicy(mustPolicy(t, core.PolicyConfig{}))
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
		Type: core.ToolTransferCall, Destinations: []core.Destination{{Type: "number", Number: "+31612345678", Description: "sales"}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	lonely, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "B"})
	if err != nil {
		t.Fatal(err)
	}
	tr, _, err := svc.ConfigureTrunk(ctx, "", core.TrunkConfig{Name: "pbx", Host: "pbx.example.com", Port: 5070, Transport: "tcp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID, TransferTrunkID: &tr.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31201234567", AssistantID: &lonely.ID}); err != nil {
		t.Fatal(err)
	}

	c, err := svc.CheckDestination(ctx, "+31612345678", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Allowed || c.Rule != core.RuleConfigured || c.E164 != "+31612345678" || c.Region != "NL" || c.Country != 31 || c.NumberType != "mobile" ||
		c.Route != "sip:+31612345678@pbx.example.com:5070;transport=tcp" || !strings.Contains(c.RouteNote, `trunk "pbx"`) {
		t.Errorf("configured number: %+v", c)
	}
	c, err = svc.CheckDestination(ctx, "+31612345678", lonely.ID)
	if err != nil || c.Allowed || c.Rule != core.RuleAdhoc || c.Route != "" || !strings.Contains(c.RouteNote, "no transfer trunk: back to the caller's source") {
		t.Errorf("number of an assistant without a trunk: %+v %v", c, err)
	}
	c, err = svc.CheckDestination(ctx, "+449098790000", "")
	if err != nil || c.Allowed || c.Rule != core.RuleDeniedTypes || c.NumberType != "premium_rate" || c.Region != "GB" || c.Country != 44 || !strings.Contains(c.RouteNote, "give assistant_id") {
		t.Errorf("premium: %+v %v", c, err)
	}
	c, err = svc.CheckDestination(ctx, "SIP:desk@pbx.example.com", "")
	if err != nil || !c.Allowed || c.Destination != "sip:desk@pbx.example.com" || c.Route != "sip:desk@pbx.example.com" || c.SIPHost != "pbx.example.com" {
		t.Errorf("SIP URI: %+v %v", c, err)
	}
	for _, tt := range []struct {
		dest, assistant string
		code            core.Code
		param           string
	}{
		{"sip:a@b>;x\r\nContact: <sip:evil@x>", "", core.CodeInvalidRequest, "destination"},
		{"0031612345678", "", core.CodeInvalidRequest, "destination"},
		{"", "", core.CodeMissingField, "destination"},
		{"+31612345678", "nope", core.CodeNotFound, "assistant_id"},
	} {
		_, err := svc.CheckDestination(ctx, tt.dest, tt.assistant)
		if !core.HasCode(err, tt.code) || core.AsError(err).Param != tt.param {
			t.Errorf("CheckDestination(%q, %q): %v, want %s on %s", tt.dest, tt.assistant, err, tt.code, tt.param)
		}
	}
}

// lockedLog collects log output across goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestTransferPolicyOnCalls runs refused transfers and dials through the
// call manager: each is destination_not_allowed, logged with its rule, and
// nothing reaches the SIP side.
func TestTransferPolicyOnCalls(t *testing.T) {
	log := &lockedLog{}
	policy := mustPolicy(t, core.PolicyConfig{Logger: slog.New(slog.NewTextHandler(log, nil))}) // countries and hosts from the store
	f := newFixture(t, core.CallsConfig{Policy: policy})
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 486})
		return 202, nil
	}
	tests := []struct {
		dest  string
		code  core.Code
		param string
		rule  string
	}{
		{"+449098790000", core.CodeDestinationNotAllowed, "destination", core.RuleDeniedTypes},
		{"+31112", core.CodeDestinationNotAllowed, "destination", core.RuleEmergency},
		{"+31201234567", core.CodeDestinationNotAllowed, "destination", core.RuleAdhoc},
		// The fixture's desk is at pbx.example.com, which is no trunk's host.
		{"sip:desk@pbx.example.com", core.CodeDestinationNotAllowed, "destination", core.RuleSIPDomains},
		{"sip:a@b>;x\r\nContact: <sip:evil@x>", core.CodeInvalidRequest, "destination", ""},
	}
	for _, tt := range tests {
		_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: tt.dest}, nil)
		if !core.HasCode(err, tt.code) || core.AsError(err).Param != tt.param {
			t.Errorf("%q: %v, want %s on %s", tt.dest, err, tt.code, tt.param)
		}
		if tt.rule != "" && !strings.Contains(log.String(), "rule="+tt.rule) {
			t.Errorf("%q: refusal not logged with rule=%s:\n%s", tt.dest, tt.rule, log)
		}
	}
	if len(f.sip.referTos) != 0 {
		t.Fatalf("refused transfers reached SIP: %v", f.sip.referTos)
	}
	// Each refusal is on the call's record, failed, with the rule's
	// reason and no Refer-To: nothing was sent.
	c, err := f.calls.GetCall(t.Context(), f.callID)
	if err != nil || c.Status != core.CallInProgress {
		t.Fatalf("call after refusals: %+v %v", c, err)
	}
	refusals := 0
	for _, tr := range c.Transfers {
		if tr.Status != core.TransferFailed || tr.ReferTo != "" || !strings.HasPrefix(tr.Reason, "refused by the transfer policy: ") {
			t.Errorf("refusal on record: %+v", tr)
		}
		refusals++
	}
	if refusals == 0 {
		t.Error("refused transfers are not on the call's record")
	}
	// The configured NL number passes (and fails busy at the far side).
	if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil); !core.HasCode(err, core.CodeTransferFailed) {
		t.Fatalf("allowed transfer: %v", err)
	}
	if len(f.sip.referTos) != 1 {
		t.Fatalf("REFERs sent: %v", f.sip.referTos)
	}

	dialer := &countingDialer{scriptedSIP: f.sip}
	f.calls.SetSignaling(dialer)
	numbers, _, err := f.store.ListPhoneNumbers(t.Context(), core.Page{Limit: 10})
	if err != nil || len(numbers) != 1 {
		t.Fatal(numbers, err)
	}
	for _, dest := range []string{"+19002345678", "+4930123456", "+1911"} {
		_, err := f.calls.Dial(t.Context(), core.DialRequest{NumberID: numbers[0].ID, Destination: dest})
		if !core.HasCode(err, core.CodeDestinationNotAllowed) || core.AsError(err).Param != "destination" {
			t.Errorf("dial %s: %v", dest, err)
		}
	}
	if dialer.dials != 0 {
		t.Errorf("refused dials reached SIP: %d", dialer.dials)
	}
}

type countingDialer struct {
	*scriptedSIP
	dials int
}

func (d *countingDialer) Dial(ctx context.Context, o core.OutboundDial) error {
	d.dials++
	return nil
}

// TestMaxTransfersPerCall caps the attempts on one call.
func TestMaxTransfersPerCall(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	ctx := t.Context()
	assistants, _, err := f.store.ListAssistants(ctx, core.Page{Limit: 10})
	if err != nil || len(assistants) != 1 {
		t.Fatal(assistants, err)
	}
	if _, err := f.svc.UpdateAssistant(ctx, assistants[0].ID, []byte(`{"transfer_policy":{"max_transfers_per_call":2}}`)); err != nil {
		t.Fatal(err)
	}
	// The fixture's call began before the change; a new call follows it.
	f = newFixtureOn(t, f)
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 486})
		return 202, nil
	}
	for i := range 2 {
		if _, err := f.calls.Transfer(ctx, core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil); !core.HasCode(err, core.CodeTransferFailed) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	_, err = f.calls.Transfer(ctx, core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	if !core.HasCode(err, core.CodeDestinationNotAllowed) || core.AsError(err).Param != "call_id" || !strings.Contains(err.Error(), "max_transfers_per_call is 2") {
		t.Fatalf("third attempt: %v", err)
	}
	if len(f.sip.referTos) != 2 {
		t.Errorf("REFERs sent: %v", f.sip.referTos)
	}
}

var fixtureSource = netip.MustParseAddrPort("127.0.0.1:5099")

// newFixtureOn places a new call on the fixture's number.
func newFixtureOn(t *testing.T, f *fixture) *fixture {
	t.Helper()
	call := *f
	dec := f.calls.OfferCall(t.Context(), core.InboundInvite{SIPCallID: "c2", Called: "31850835037", Caller: "+31611122233", Source: fixtureSource})
	if dec.CallID == "" {
		t.Fatalf("call refused: %+v", dec)
	}
	f.calls.CallAnswered(t.Context(), dec.CallID)
	call.callID = dec.CallID
	return &call
}

// TestPolicyFollowsNumberWrites checks that the countries of the
// deployment's own numbers, which the policy keeps between checks, follow
// every phone number write made through the Configuration.
func TestPolicyFollowsNumberWrites(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	p := mustPolicy(t, core.PolicyConfig{})
	svc := core.NewConfiguration(st, slog.New(slog.DiscardHandler))
	svc.SetPolicy(p)
	check := func(dest string, allowed bool) {
		t.Helper()
		v, err := p.Check(ctx, st, number(dest), nil)
		if err != nil || v.Allowed != allowed {
			t.Fatalf("%s: %+v %v; want allowed=%v", dest, v, err, allowed)
		}
	}
	check("+31612345678", false) // no numbers yet
	n, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037"})
	if err != nil {
		t.Fatal(err)
	}
	check("+31612345678", true)
	check("+3212345678", false)
	if _, err := svc.UpdatePhoneNumber(ctx, n.ID, []byte(`{"phone_number":"+3225551234"}`)); err != nil {
		t.Fatal(err)
	}
	check("+31612345678", false)
	check("+3212345678", true)
	if err := svc.DeletePhoneNumber(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	check("+3212345678", false)
}
