package main

import (
	"strings"
	"testing"
)

// TestBadInputIsRefusedAndChangesNothing runs each validation rule through
// the MCP interface: the result is an error with the documented code and
// param, and the stored configuration is exactly as before.
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	c, _ := stdioServer(t, t.TempDir())
	a := mustCall(t, c, "create_assistant", `{"name":"A","llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"+31612345678","description":"human"}]}]}}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"pbx.example.com"}`)
	n := mustCall(t, c, "create_phone_number", `{"phone_number":"+31850835037"}`)
	aID, trID, nID := field(a, "assistant", "id"), field(tr, "trunk", "id"), field(n, "number", "id")
	id := func(s string) string { return strings.NewReplacer("$A", aID, "$T", trID, "$N", nID).Replace(s) }

	snapshot := func() string {
		var b strings.Builder
		for _, q := range [][2]string{{"get_assistant", `{"id":"$A"}`}, {"get_trunk", `{"id":"$T"}`}, {"get_phone_number", `{"id":"$N"}`},
			{"list_assistants", `{}`}, {"list_trunks", `{}`}, {"list_phone_numbers", `{}`}} {
			b.Write(mustCall(t, c, q[0], id(q[1])).json)
		}
		return b.String()
	}
	before := snapshot()

	tests := []struct {
		tool, args, code, param string
	}{
		{"create_assistant", `{}`, "missing_field", "name"},
		{"create_assistant", `{"name":"x","colour":"red"}`, "invalid_request", "colour"},
		{"create_assistant", `{"name":42}`, "invalid_request", "name"},
		{"create_assistant", `{"name":"` + strings.Repeat("n", 101) + `"}`, "invalid_request", "name"},
		{"create_assistant", `{"name":"x","llm_config":{"temperature":3}}`, "invalid_request", "llm_config.temperature"},
		{"create_assistant", `{"name":"x","llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"0612345678","description":"d"}]}]}}`, "invalid_request", "llm_config.tools[0].destinations[0].number"},
		{"create_assistant", `{"name":"x","llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"+449098790000","description":"d"}]}]}}`, "destination_not_allowed", "llm_config.tools[0].destinations[0].number"},
		{"create_assistant", `{"name":"x","llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"sip","sip_uri":"sip:a@b>;x\r\nContact: <sip:evil@x>","description":"d"}]}]}}`, "invalid_request", "llm_config.tools[0].destinations[0].sip_uri"},
		{"create_assistant", `{"name":"x","llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"+31612345678"}]}]}}`, "missing_field", "llm_config.tools[0].destinations[0].description"},
		{"create_assistant", `{"name":"x","webhook_url":"javascript:alert(1)"}`, "invalid_request", "webhook_url"},
		{"get_assistant", `{}`, "missing_field", "id"},
		{"get_assistant", `{"id":"nope"}`, "not_found", "id"},
		{"list_assistants", `{"limit":1000}`, "invalid_request", "limit"},
		{"list_assistants", `{"offset":-1}`, "invalid_request", "offset"},
		{"update_assistant", id(`{"id":"$A","name":""}`), "missing_field", "name"},
		{"update_assistant", id(`{"id":"$A","llm_config":{"tools":[{"type":"dial"}]}}`), "invalid_request", "llm_config.tools[0].type"},
		{"update_assistant", id(`{"id":"$A","bogus":1}`), "invalid_request", "bogus"},
		{"update_assistant", `{"id":"nope","name":"x"}`, "not_found", "id"},
		{"delete_assistant", `{"id":"nope"}`, "not_found", "id"},
		{"configure_trunk", `{"name":"x"}`, "missing_field", "host"},
		{"configure_trunk", `{"name":"x","host":"pbx","port":0.5}`, "invalid_request", "port"},
		{"configure_trunk", `{"name":"x","host":"pbx","port":99999}`, "invalid_request", "port"},
		{"configure_trunk", `{"name":"x","host":"pbx","transport":"sctp"}`, "invalid_request", "transport"},
		{"configure_trunk", `{"name":"x","host":"pbx","password":"p"}`, "missing_field", "username"},
		{"configure_trunk", `{"name":"x","host":"a","address":"b"}`, "invalid_request", "address"},
		{"configure_trunk", id(`{"id":"nope","name":"x","host":"pbx"}`), "not_found", "id"},
		{"delete_trunk", id(`{"id":"nope"}`), "not_found", "id"},
		{"create_phone_number", `{"phone_number":"+31850835037"}`, "conflict", "phone_number"},
		{"create_phone_number", `{"phone_number":"085 083 5037"}`, "invalid_request", "phone_number"},
		{"create_phone_number", `{"phone_number":"+31201234567","assistant_id":"nope"}`, "not_found", "assistant_id"},
		{"create_phone_number", `{"phone_number":"+31201234567","transfer_trunk_id":"nope"}`, "not_found", "transfer_trunk_id"},
		{"create_phone_number", id(`{"phone_number":"+31201234567","agent_id":"$A","assistant_id":"other"}`), "invalid_request", "agent_id"},
		{"update_phone_number", id(`{"id":"$N","assistant_id":"nope"}`), "not_found", "assistant_id"},
		{"update_phone_number", id(`{"id":"$N","phone_number":"+1"}`), "invalid_request", "phone_number"},
		{"update_phone_number", id(`{"id":"$N","created_at":"2020-01-01T00:00:00Z"}`), "invalid_request", "created_at"},
		{"delete_phone_number", `{"id":"nope"}`, "not_found", "id"},
	}
	for _, tt := range tests {
		r := call(t, c, tt.tool, tt.args)
		if !r.isError {
			t.Errorf("%s %s: succeeded, want %s", tt.tool, tt.args, tt.code)
			continue
		}
		if r.errorCode() != tt.code || r.errorParam() != tt.param {
			t.Errorf("%s %s: got %s on %q (%s), want %s on %q", tt.tool, tt.args, r.errorCode(), r.errorParam(), r.text, tt.code, tt.param)
		}
		if strings.Contains(r.text, "\n") || r.text == "" {
			t.Errorf("%s: error text must be one line: %q", tt.tool, r.text)
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("refused input changed stored data:\nbefore %s\nafter  %s", before, after)
	}
}

// TestDeleteInUseIsConflictUnlessForced covers the reference's 409 on
// deleting what a number still uses.
func TestDeleteInUseIsConflictUnlessForced(t *testing.T) {
	t.Parallel()
	c, _ := stdioServer(t, t.TempDir())
	aID := field(mustCall(t, c, "create_assistant", `{"name":"A"}`), "assistant", "id")
	trID := field(mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"pbx.example.com"}`), "trunk", "id")
	nID := field(mustCall(t, c, "create_phone_number", `{"phone_number":"+31850835037","agent_id":"`+aID+`","transfer_trunk_id":"`+trID+`"}`), "number", "id")

	for _, q := range [][2]string{{"delete_assistant", aID}, {"delete_trunk", trID}} {
		r := call(t, c, q[0], `{"id":"`+q[1]+`"}`)
		if r.errorCode() != "conflict" || !strings.Contains(r.text, "+31850835037") {
			t.Errorf("%s in use: %s", q[0], r.text)
		}
	}
	mustCall(t, c, "delete_trunk", `{"id":"`+trID+`","force":true}`)
	n := mustCall(t, c, "get_phone_number", `{"id":"`+nID+`"}`)
	if n.structured["number"].(map[string]any)["transfer_trunk_id"] != nil || field(n, "number", "assistant_id") != aID {
		t.Errorf("force-deleting the trunk: %s", n.json)
	}
	// Detach with null, then the assistant deletes without force.
	mustCall(t, c, "update_phone_number", `{"id":"`+nID+`","assistant_id":null}`)
	mustCall(t, c, "delete_assistant", `{"id":"`+aID+`"}`)
	mustCall(t, c, "delete_phone_number", `{"id":"`+nID+`"}`)
	if r := call(t, c, "get_phone_number", `{"id":"`+nID+`"}`); r.errorCode() != "not_found" {
		t.Errorf("deleted number still there: %s", r.text)
	}
}

// TestUpdateChangesOnlyFieldsSent checks the merge-patch semantics.
func TestUpdateChangesOnlyFieldsSent(t *testing.T) {
	t.Parallel()
	c, _ := stdioServer(t, t.TempDir())
	a := mustCall(t, c, "create_assistant", `{"name":"A","first_message":"Hi","llm_config":{"provider":"openai","model":"gpt-4o-mini","temperature":0.5,"tools":[{"type":"end_call"}]}}`)
	id := field(a, "assistant", "id")
	u := mustCall(t, c, "update_assistant", `{"id":"`+id+`","llm_config":{"temperature":0.2}}`)
	got := u.structured["assistant"].(map[string]any)
	llm := got["llm_config"].(map[string]any)
	if got["name"] != "A" || got["first_message"] != "Hi" || llm["model"] != "gpt-4o-mini" || llm["temperature"] != 0.2 || len(llm["tools"].([]any)) != 1 {
		t.Errorf("merge patch: %s", u.json)
	}
	u = mustCall(t, c, "update_assistant", `{"id":"`+id+`","first_message":null}`)
	if _, ok := u.structured["assistant"].(map[string]any)["first_message"]; ok {
		t.Errorf("null did not remove first_message: %s", u.json)
	}
	if field(u, "assistant", "updated_at") == field(u, "assistant", "created_at") && field(a, "assistant", "updated_at") != field(a, "assistant", "created_at") {
		t.Errorf("timestamps: %s", u.json)
	}
}
