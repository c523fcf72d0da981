package main

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

func wantTools() []string {
	return []string{
		"create_assistant", "get_assistant", "list_assistants", "update_assistant", "delete_assistant",
		"configure_trunk", "get_trunk", "list_trunks", "delete_trunk",
		"create_phone_number", "get_phone_number", "list_phone_numbers", "update_phone_number", "delete_phone_number",
	}
}

func TestToolsListOverStdio(t *testing.T) {
	t.Parallel()
	c, _ := stdioServer(t, t.TempDir())
	res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]mcp.Tool{}
	for _, tool := range res.Tools {
		byName[tool.Name] = tool
	}
	for _, name := range wantTools() {
		tool, ok := byName[name]
		if !ok {
			t.Errorf("tools/list lacks %s", name)
			continue
		}
		for kind, schema := range map[string]any{"input": tool.InputSchema, "output": tool.OutputSchema} {
			b, _ := json.Marshal(schema)
			var s map[string]any
			json.Unmarshal(b, &s)
			if s["type"] != "object" {
				t.Errorf("%s %s schema root type = %v, want object", name, kind, s["type"])
			}
		}
		if tool.Description == "" {
			t.Errorf("%s has no description", name)
		}
		a := tool.Annotations
		if a.ReadOnlyHint == nil || a.DestructiveHint == nil || a.IdempotentHint == nil || a.OpenWorldHint == nil {
			t.Errorf("%s: annotations not all set: %+v", name, a)
			continue
		}
		readOnly := strings.HasPrefix(name, "get_") || strings.HasPrefix(name, "list_")
		if *a.ReadOnlyHint != readOnly {
			t.Errorf("%s: readOnlyHint = %v", name, *a.ReadOnlyHint)
		}
		if *a.DestructiveHint != strings.HasPrefix(name, "delete_") {
			t.Errorf("%s: destructiveHint = %v", name, *a.DestructiveHint)
		}
	}
}

// TestSeedExampleRoundTrips: the product page's "Complete Transfer Setup"
// is accepted as it stands and comes back the same.
func TestSeedExampleRoundTrips(t *testing.T) {
	t.Parallel()
	seed, err := os.ReadFile("../../testdata/seed-assistant.json")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := stdioServer(t, t.TempDir())
	created := mustCall(t, c, "create_assistant", string(seed))
	id := field(created, "assistant", "id")
	if id == "" {
		t.Fatalf("no id in %s", created.json)
	}
	got := mustCall(t, c, "get_assistant", `{"id":"`+id+`"}`)
	var want, back map[string]any
	json.Unmarshal(seed, &want)
	back = got.structured["assistant"].(map[string]any)
	for k, v := range want {
		if !reflect.DeepEqual(back[k], v) {
			gotJSON, _ := json.Marshal(back[k])
			wantJSON, _ := json.Marshal(v)
			t.Errorf("field %s came back as %s, sent %s", k, gotJSON, wantJSON)
		}
	}
	for _, k := range []string{"id", "created_at", "updated_at"} {
		if back[k] == nil {
			t.Errorf("get_assistant lacks %s", k)
		}
	}
	if !strings.Contains(got.text, `"first_message":"Welcome to Acme support`) {
		t.Errorf("text content does not carry the JSON: %s", got.text)
	}
}

// TestTransferPolicyPrompt renders the seed assistant's transfer section.
func TestTransferPolicyPrompt(t *testing.T) {
	t.Parallel()
	seed, err := os.ReadFile("../../testdata/seed-assistant.json")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := stdioServer(t, t.TempDir())
	id := field(mustCall(t, c, "create_assistant", string(seed)), "assistant", "id")
	req := mcp.GetPromptRequest{}
	req.Params.Name = "transfer_policy"
	req.Params.Arguments = map[string]string{"assistant_id": id}
	res, err := c.GetPrompt(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	text := res.Messages[0].Content.(mcp.TextContent).Text
	for _, want := range []string{"+31612345678", "Human support assistant for complex issues", "I'm transferring you to one of my colleagues", "transfer_call"} {
		if !strings.Contains(text, want) {
			t.Errorf("prompt lacks %q:\n%s", want, text)
		}
	}
	req.Params.Arguments = map[string]string{"assistant_id": "nope"}
	if _, err := c.GetPrompt(t.Context(), req); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Errorf("prompt for an unknown assistant: %v", err)
	}
}
