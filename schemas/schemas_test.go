package schemas_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/voicedock/voicedock/schemas"
	"github.com/voicedock/voicedock/tools"
)

// TestCheckedInSchemasMatchTypes fails when a Go input or output type
// changed without `go run ./cmd/voicedock schemas` being run.
func TestCheckedInSchemasMatchTypes(t *testing.T) {
	want, err := schemas.Generate(tools.All(tools.Deps{}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := schemas.CheckedIn()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range want.Names() {
		if !bytes.Equal(got[name], want[name]) {
			t.Errorf("schemas/%s is out of date: run `go run ./cmd/voicedock schemas`", name)
		}
	}
	for _, name := range got.Names() {
		if _, ok := want[name]; !ok {
			t.Errorf("schemas/%s belongs to no tool: run `go run ./cmd/voicedock schemas`", name)
		}
	}
}

// TestSchemasAreObjects checks what MCP clients require of every schema.
func TestSchemasAreObjects(t *testing.T) {
	files, err := schemas.Generate(tools.All(tools.Deps{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files.Names() {
		var s struct {
			Type       string         `json:"type"`
			Ref        string         `json:"$ref"`
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(files[name], &s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Type != "object" || s.Ref != "" {
			t.Errorf("%s: root must be an inline object, got type %q ref %q", name, s.Type, s.Ref)
		}
	}
}
