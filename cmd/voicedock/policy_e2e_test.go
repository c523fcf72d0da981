package main

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestRefusedTransfersNeverReachTheWire: transfer_call to destinations the
// policy refuses is destination_not_allowed, logged with its rule, and
// sends nothing. The caller is a sipp that talks for 3 s and hangs up; a
// REFER in its dialog would be an unexpected message and fail it.
func TestRefusedTransfersNeverReachTheWire(t *testing.T) {
	t.Parallel()
	target := sipptest.FreePort(t)
	// No policy settings: the defaults. Nine refusals on one call stay
	// within the per-call command limit, but need not depend on it.
	line := newPhoneLine(t, target, "VOICEDOCK_CALL_COMMANDS_PER_MINUTE=0")
	caller := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-d", "3000")
	callID := line.answered(t)

	tests := []struct {
		destination string
		code        string
		param       string
		rule        string
		says        string
	}{
		{"+449098790000", "destination_not_allowed", "destination", "denied_types", "premium-rate numbers are denied (VOICEDOCK_TRANSFER_DENIED_TYPES)"},
		{"+19002345678", "destination_not_allowed", "destination", "denied_types", "premium-rate"},
		{"+31112", "destination_not_allowed", "destination", "emergency_number", "emergency numbers are never transfer destinations"},
		{"+1911", "destination_not_allowed", "destination", "emergency_number", "emergency"},
		// Configured destinations pass only within the rules; this one is
		// not configured, and abroad.
		{"+4930123456", "destination_not_allowed", "destination", "allowed_countries", "country DE of +4930123456 is not a country of this deployment's own phone numbers (NL)"},
		{"+31201234567", "destination_not_allowed", "destination", "adhoc_transfers", "VOICEDOCK_ALLOW_ADHOC_TRANSFERS"},
		{"sip:desk@pbx.evil.example", "destination_not_allowed", "destination", "sip_allowed_domains", "pbx.evil.example is not an allowed SIP domain"},
		{"sip:+449098790000@127.0.0.1:" + strconv.Itoa(target), "destination_not_allowed", "destination", "denied_types", "premium-rate"},
		{"sip:a@b>;x\r\nContact: <sip:evil@x>", "invalid_request", "destination", "", ""},
	}
	for _, tt := range tests {
		res, steps := transfer(t, line.c, callID, tt.destination)
		if !res.isError || res.errorCode() != tt.code || res.errorParam() != tt.param || !strings.Contains(res.text, tt.says) {
			t.Errorf("transfer_call to %q: %s (%s on %s), want %s on %s saying %q", tt.destination, res.text, res.errorCode(), res.errorParam(), tt.code, tt.param, tt.says)
		}
		if len(steps) != 0 {
			t.Errorf("transfer_call to %q reported progress: %v", tt.destination, progressMessages(steps))
		}
		if tt.rule != "" {
			// The log line is written before the result; stderr may lag.
			line.logs.waitFor(t, regexp.MustCompile(`msg="transfer destination refused" rule=`+tt.rule+` destination=`+regexp.QuoteMeta(strconv.Quote(tt.destination))+`|msg="transfer destination refused" rule=`+tt.rule+` destination=`+regexp.QuoteMeta(tt.destination)+` `), 0, 5*time.Second)
		}
	}
	if s := callStatus(t, line.c, callID); s != "in-progress" {
		t.Fatalf("after refused transfers the call is %s; the caller must stay connected", s)
	}

	// The caller hangs up on its own after 3 s; sipp exits 0 only if no
	// REFER (or anything else unexpected) reached it.
	caller.Wait(t)
	if strings.Contains(caller.Traces(), "REFER sip:") {
		t.Errorf("a REFER reached the caller:\n%s", caller.Traces())
	}
	status, reason := line.ended(t, callID)
	if status != "ended" || reason != "user_hangup" {
		t.Errorf("call ended %s/%s", status, reason)
	}
	got := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	// Policy refusals are on record as failed transfers that never had a
	// Refer-To: nothing went out.
	transfers, _ := got.structured["call"].(map[string]any)["transfers"].([]any)
	refused := 0
	for _, tr := range transfers {
		tr := tr.(map[string]any)
		if tr["status"] != "failed" || tr["refer_to"] != nil || !strings.HasPrefix(tr["reason"].(string), "refused by the transfer policy") {
			t.Errorf("transfer on record: %v", tr)
		}
		refused++
	}
	if refused == 0 {
		t.Errorf("policy refusals are not on the call's record: %s", got.json)
	}
}

// TestCheckDestination asks the policy without dialling.
func TestCheckDestination(t *testing.T) {
	t.Parallel()
	target := sipptest.FreePort(t)
	line := newPhoneLine(t, target)
	assistants := mustCall(t, line.c, "list_assistants", `{}`)
	assistantID := assistants.structured["assistants"].([]any)[0].(map[string]any)["id"].(string)

	ok := mustCall(t, line.c, "check_destination", `{"destination":"`+salesNumber+`","assistant_id":"`+assistantID+`"}`)
	if ok.structured["allowed"] != true || ok.structured["rule"] != "configured_destination" || ok.structured["e164"] != salesNumber ||
		ok.structured["region"] != "NL" || ok.structured["country_code"] != float64(31) || ok.structured["number_type"] != "mobile" ||
		ok.structured["route"] != "sip:"+salesNumber+"@127.0.0.1:"+strconv.Itoa(target) {
		t.Errorf("configured destination: %s", ok.json)
	}
	premium := mustCall(t, line.c, "check_destination", `{"destination":"+449098790000"}`)
	if premium.structured["allowed"] != false || premium.structured["rule"] != "denied_types" || premium.structured["number_type"] != "premium_rate" ||
		premium.structured["region"] != "GB" || premium.structured["country_code"] != float64(44) || !strings.HasPrefix(premium.text, "Refused: ") {
		t.Errorf("premium: %s\n%s", premium.json, premium.text)
	}
	sipDesk := mustCall(t, line.c, "check_destination", `{"destination":"sip:desk@127.0.0.1:`+strconv.Itoa(target)+`","assistant_id":"`+assistantID+`"}`)
	if sipDesk.structured["allowed"] != true || sipDesk.structured["route"] != "sip:desk@127.0.0.1:"+strconv.Itoa(target) || sipDesk.structured["sip_host"] != "127.0.0.1" {
		t.Errorf("configured SIP desk: %s", sipDesk.json)
	}
	evil := mustCall(t, line.c, "check_destination", `{"destination":"sip:desk@pbx.evil.example"}`)
	if evil.structured["allowed"] != false || evil.structured["rule"] != "sip_allowed_domains" {
		t.Errorf("foreign SIP domain: %s", evil.json)
	}
	for _, tt := range []struct{ args, code, param string }{
		{`{"destination":"sip:a@b>;x\r\nContact: <sip:evil@x>"}`, "invalid_request", "destination"},
		{`{"destination":"0031612345678"}`, "invalid_request", "destination"},
		{`{"destination":"+31612345678","assistant_id":"nope"}`, "not_found", "assistant_id"},
		{`{"destination":"+31612345678","dial":true}`, "invalid_request", "dial"},
	} {
		r := call(t, line.c, "check_destination", tt.args)
		if !r.isError || r.errorCode() != tt.code || r.errorParam() != tt.param {
			t.Errorf("check_destination(%s): %s, want %s on %s", tt.args, r.text, tt.code, tt.param)
		}
	}

	// An assistant's transfer_policy narrows; the deployment's countries
	// come from configuration when set.
	c, _ := stdioServer(t, t.TempDir(), "VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES=NL,32", "VOICEDOCK_SIP_ALLOWED_DOMAINS=*.example.com")
	a := mustCall(t, c, "create_assistant", `{"name":"NL only","transfer_policy":{"allowed_countries":["nl"],"max_transfers_per_call":2},
		"llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"+31612345678","description":"sales"}]}]}}`)
	aID := field(a, "assistant", "id")
	if got := a.structured["assistant"].(map[string]any)["transfer_policy"].(map[string]any)["allowed_countries"].([]any); len(got) != 1 || got[0] != "NL" {
		t.Errorf("transfer_policy as stored: %s", a.json)
	}
	be := mustCall(t, c, "check_destination", `{"destination":"+3212345678","assistant_id":"`+aID+`"}`)
	if be.structured["allowed"] != false || be.structured["rule"] != "assistant_countries" {
		t.Errorf("BE for an NL-only assistant: %s", be.json)
	}
	de := mustCall(t, c, "check_destination", `{"destination":"+4930123456"}`)
	if de.structured["allowed"] != false || !strings.Contains(de.structured["reason"].(string), "not in VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES (NL, +32)") {
		t.Errorf("DE: %s", de.json)
	}
	if r := call(t, c, "create_assistant", `{"name":"x","llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"sip","sip_uri":"sip:desk@pbx.evil.example","description":"d"}]}]}}`); r.errorCode() != "destination_not_allowed" || r.errorParam() != "llm_config.tools[0].destinations[0].sip_uri" {
		t.Errorf("create_assistant with a foreign SIP domain: %s", r.text)
	}
	if r := call(t, c, "update_assistant", `{"id":"`+aID+`","transfer_policy":{"allowed_countries":["Narnia"]}}`); r.errorCode() != "invalid_request" || r.errorParam() != "transfer_policy.allowed_countries[0]" {
		t.Errorf("update_assistant with an unknown country: %s", r.text)
	}
}

// TestBadPolicyConfigurationStopsStartup: a typo in the policy is an error
// at start, not a silently wider policy.
func TestBadPolicyConfigurationStopsStartup(t *testing.T) {
	t.Parallel()
	for _, env := range []string{
		"VOICEDOCK_TRANSFER_DENIED_TYPES=premium",
		"VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES=NL,Netherlands",
		"VOICEDOCK_SIP_ALLOWED_DOMAINS=pbx.example.com:5060",
	} {
		name, _, _ := strings.Cut(env, "=")
		cmd := exec.Command(binary, "serve", "--transport", "stdio")
		cmd.Env = baseEnv(t.TempDir(), env)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() {
			out, err = cmd.CombinedOutput()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%s: the server started", env)
		}
		if err == nil || !strings.Contains(string(out), name) {
			t.Errorf("%s: err %v, output:\n%s", env, err, out)
		}
	}
}
