package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/schemas"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// toolCalls is clients/tool-calls.json: every tool with a good and a bad
// input, shared with the TypeScript SDK test.
type toolCalls struct {
	Calls []struct {
		Tool   string            `json:"tool"`
		Good   json.RawMessage   `json:"good"`
		Bad    json.RawMessage   `json:"bad"`
		Expect [2]string         `json:"expect"`
		Save   map[string]string `json:"save"`
	} `json:"calls"`
}

func loadToolCalls(t *testing.T) toolCalls {
	t.Helper()
	b, err := os.ReadFile("../../clients/tool-calls.json")
	if err != nil {
		t.Fatal(err)
	}
	var tc toolCalls
	if err := json.Unmarshal(b, &tc); err != nil {
		t.Fatalf("tool-calls.json: %v", err)
	}
	return tc
}

var placeholder = regexp.MustCompile(`"\{\{(\w+)\}\}"`)

// fillArgs replaces each "{{name}}" in args with saved[name] as JSON.
func fillArgs(t *testing.T, args json.RawMessage, saved map[string]any) string {
	t.Helper()
	return placeholder.ReplaceAllStringFunc(string(args), func(m string) string {
		name := placeholder.FindStringSubmatch(m)[1]
		v, ok := saved[name]
		if !ok {
			t.Fatalf("no saved value %s", name)
		}
		b, _ := json.Marshal(v)
		return string(b)
	})
}

// compileSchema compiles one JSON Schema document.
func compileSchema(name string, doc []byte) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, v); err != nil {
		return nil, err
	}
	return c.Compile(name)
}

var checkedInOutputs = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	files, err := schemas.CheckedIn()
	if err != nil {
		return nil, err
	}
	out := map[string]*jsonschema.Schema{}
	for name, doc := range files {
		tool, ok := strings.CutSuffix(name, ".output.json")
		if !ok {
			continue
		}
		s, err := compileSchema(name, doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[tool] = s
	}
	return out, nil
})

var codedLine = regexp.MustCompile(`^([a-z_]+): \S[^\n]*$`)

// checkResultShape fails t unless res is what every client accepts from
// tool: a success whose structuredContent validates against the tool's
// output schema (the checked-in one unless schema is given), or an error
// without structuredContent whose one line of text starts with a code of
// the error table. It returns the error code, or "ok".
func checkResultShape(t *testing.T, tool string, res *mcp.CallToolResult, schema *jsonschema.Schema) string {
	t.Helper()
	if res.IsError {
		if res.StructuredContent != nil || len(res.RawStructuredContent) > 0 {
			t.Errorf("%s: error result carries structuredContent, which clients validate against the output schema", tool)
		}
		var texts []string
		for _, c := range res.Content {
			if tc, ok := c.(mcp.TextContent); ok {
				texts = append(texts, tc.Text)
			}
		}
		m := codedLine.FindStringSubmatch(strings.Join(texts, "\n"))
		if m == nil || !knownCode(m[1]) {
			t.Errorf("%s: error text %q is not one line starting with a code of the error table", tool, texts)
			return ""
		}
		return m[1]
	}
	if schema == nil {
		all, err := checkedInOutputs()
		if err != nil {
			t.Fatal(err)
		}
		schema = all[tool]
		if schema == nil {
			t.Errorf("%s: no checked-in output schema", tool)
			return "ok"
		}
	}
	body := res.RawStructuredContent
	if len(body) == 0 {
		body, _ = json.Marshal(res.StructuredContent)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: structuredContent %s: %v", tool, body, err)
		return "ok"
	}
	if err := schema.Validate(inst); err != nil {
		t.Errorf("%s: structuredContent does not validate against the output schema: %v\n%s", tool, err, body)
	}
	return "ok"
}

func knownCode(code string) bool {
	for _, c := range core.ErrorCodes() {
		if string(c.Code) == code {
			return true
		}
	}
	return false
}

// servedOutputSchemas compiles the output schemas tools/list serves.
func servedOutputSchemas(t *testing.T, c *client.Client) map[string]*jsonschema.Schema {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	list, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, tool := range list.Tools {
		doc, err := json.Marshal(tool.OutputSchema)
		if len(tool.RawOutputSchema) > 0 {
			doc, err = tool.RawOutputSchema, nil
		}
		if err != nil {
			t.Fatal(err)
		}
		s, err := compileSchema(tool.Name+".output.json", doc)
		if err != nil {
			t.Fatalf("%s: output schema: %v", tool.Name, err)
		}
		out[tool.Name] = s
	}
	return out
}

// TestSDKSchemaEveryToolResult calls every tool with a good and a bad
// input over both transports and both protocol versions and validates each
// result against the output schema the server declares, as the official
// SDKs do: mcp-go's client does not, so without this a result that SDK
// clients refuse goes unnoticed.
func TestSDKSchemaEveryToolResult(t *testing.T) {
	t.Parallel()
	table := loadToolCalls(t)
	for _, tc := range []struct{ transport, version string }{
		// Each transport and each protocol once; the TypeScript SDK test
		// runs every combination.
		{"stdio", "2025-11-25"}, {"http", "2026-07-28"},
	} {
		t.Run(tc.transport+"/"+tc.version, func(t *testing.T) {
			var c *client.Client
			if tc.transport == "stdio" {
				c, _ = stdioServerVersion(t, tc.version, t.TempDir())
			} else {
				url, _ := httpServer(t, t.TempDir())
				c = httpClientVersion(t, url, tc.version, nil)
			}
			served := servedOutputSchemas(t, c)
			saved := map[string]any{"closed_port": sipptest.FreePort(t)}
			for _, entry := range table.Calls {
				if served[entry.Tool] == nil {
					t.Errorf("%s: not listed", entry.Tool)
					continue
				}
				for i, args := range []json.RawMessage{entry.Good, entry.Bad} {
					ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
					req := mcp.CallToolRequest{}
					req.Params.Name = entry.Tool
					req.Params.Arguments = json.RawMessage(fillArgs(t, args, saved))
					res, err := c.CallTool(ctx, req)
					cancel()
					if err != nil {
						t.Errorf("%s %s: protocol error: %v", entry.Tool, args, err)
						continue
					}
					if got := checkResultShape(t, entry.Tool, res, served[entry.Tool]); got != entry.Expect[i] {
						t.Errorf("%s %s: got %s, want %s", entry.Tool, args, got, entry.Expect[i])
					}
					if i == 0 && !res.IsError {
						body := res.RawStructuredContent
						if len(body) == 0 {
							body, _ = json.Marshal(res.StructuredContent)
						}
						var out map[string]any
						json.Unmarshal(body, &out)
						for name, path := range entry.Save {
							saved[name] = lookup(out, strings.Split(path, "."))
						}
					}
				}
			}
			for name := range served {
				if !tableHas(table, name) {
					t.Errorf("%s: no entry in clients/tool-calls.json", name)
				}
			}
		})
	}
}

func tableHas(tc toolCalls, tool string) bool {
	for _, e := range tc.Calls {
		if e.Tool == tool {
			return true
		}
	}
	return false
}

func lookup(m map[string]any, path []string) any {
	var v any = m
	for _, k := range path {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	return v
}
