package tools

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/voicedock/voicedock/core"
)

// Hints are the MCP tool annotations, set honestly: clients use them to
// decide what to run without asking the user.
type Hints struct {
	ReadOnly    bool
	Destructive bool
	Idempotent  bool
	// OpenWorld is true for tools that reach the phone network.
	OpenWorld bool
	// Waits is true for tools that wait on the phone network (a transfer's
	// outcome, a test call, an answer): a client may run them as tasks.
	Waits bool
	// LiveCall is true for tools that act on a live call's SIP dialog or
	// media, named by their call_id: when several nodes share the store,
	// the node holding the call runs them, wherever they arrive.
	LiveCall bool
}

// Tool is one MCP tool, independent of the MCP library.
type Tool struct {
	Name        string
	Title       string
	Description string
	Hints       Hints
	// Input and Output are zero values of the Go types the schemas are
	// generated from.
	Input  any
	Output any
	// Call decodes the raw arguments and runs the tool. Errors are *core.Error.
	Call func(ctx context.Context, args json.RawMessage) (Result, error)
}

// Result is a tool's successful answer.
type Result struct {
	// Summary is one line for humans and LLMs that read only text.
	Summary string
	// Structured is the output value; it validates against the output schema.
	Structured any
}

// define builds a Tool from a typed handler.
func define[In, Out any](name, title, description string, hints Hints, fn func(context.Context, In) (Out, string, error)) Tool {
	return defineRaw(name, title, description, hints, func(ctx context.Context, in In, _ json.RawMessage) (Out, string, error) {
		return fn(ctx, in)
	})
}

// defineRaw is define for handlers that also need the raw arguments, such
// as the update tools, whose merge patch must tell an absent field from one
// sent empty.
func defineRaw[In, Out any](name, title, description string, hints Hints, fn func(context.Context, In, json.RawMessage) (Out, string, error)) Tool {
	var in In
	var out Out
	return Tool{
		Name: name, Title: title, Description: description, Hints: hints,
		Input: &in, Output: &out,
		Call: func(ctx context.Context, args json.RawMessage) (Result, error) {
			if len(args) == 0 || string(args) == "null" {
				args = json.RawMessage("{}")
			}
			var in In
			if err := core.DecodeStrict(args, &in); err != nil {
				return Result{}, err
			}
			out, summary, err := fn(ctx, in, args)
			if err != nil {
				return Result{}, err
			}
			return Result{Summary: summary, Structured: out}, nil
		},
	}
}

// requireID checks an id argument.
func requireID(param, id string) error {
	if strings.TrimSpace(id) == "" {
		return core.FieldError(core.CodeMissingField, param, "%s is required", param)
	}
	if len(id) > 128 {
		return core.FieldError(core.CodeInvalidRequest, param, "%s is longer than 128 characters", param)
	}
	return nil
}

// GetInput selects one object.
type GetInput struct {
	ID string `json:"id" jsonschema:"required,description=The object's id,minLength=1,maxLength=128"`
}

// DeleteInput selects one object to delete.
type DeleteInput struct {
	ID    string `json:"id" jsonschema:"required,description=The object's id,minLength=1,maxLength=128"`
	Force bool   `json:"force,omitempty" jsonschema:"description=Delete even while phone numbers use it; they are detached (their link set to null)"`
}

// DeleteOutput confirms a deletion.
type DeleteOutput struct {
	Success bool   `json:"success" jsonschema:"required"`
	ID      string `json:"id" jsonschema:"required,description=The id of the deleted object"`
}

// ListInput pages through a list.
type ListInput struct {
	Limit  int `json:"limit,omitempty" jsonschema:"description=How many to return (default 50),minimum=1,maximum=100"`
	Offset int `json:"offset,omitempty" jsonschema:"description=How many to skip,minimum=0"`
}

func (in ListInput) page() core.Page { return core.Page{Limit: in.Limit, Offset: in.Offset} }

// Pagination describes a page of a list.
type Pagination struct {
	Total  int `json:"total" jsonschema:"required,description=How many there are in all"`
	Limit  int `json:"limit" jsonschema:"required"`
	Offset int `json:"offset" jsonschema:"required"`
}

func pagination(in ListInput, total int) Pagination {
	p, _ := in.page().Normalize()
	return Pagination{Total: total, Limit: p.Limit, Offset: p.Offset}
}
