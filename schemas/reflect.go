package schemas

import (
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"
)

// Reflect returns the JSON Schema of v's type in the form MCP clients
// accept for a tool: everything inline, with `type: object` at the root.
// A bare `$ref` root makes some clients (the official TypeScript SDK among
// them) reject the whole tools/list.
func Reflect(v any) (json.RawMessage, error) {
	r := &jsonschema.Reflector{
		DoNotReference: true,
		ExpandedStruct: true,
		// Only fields tagged `required` are: an omitempty-less field
		// may still be optional (a null link, a defaulted port).
		RequiredFromJSONSchemaTags: true,
	}
	s := r.Reflect(v)
	s.Version = ""
	s.ID = ""
	if s.Type != "object" {
		return nil, fmt.Errorf("schema of %T has root type %q, want object", v, s.Type)
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode schema of %T: %w", v, err)
	}
	return out, nil
}
