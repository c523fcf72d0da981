package tools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"

	"github.com/voicedock/voicedock/core"
)

// AssistantOutput wraps one assistant, as the VoiceDock API does.
type AssistantOutput struct {
	Assistant core.Assistant `json:"assistant" jsonschema:"required"`
}

// AssistantListOutput is a page of assistants.
type AssistantListOutput struct {
	Assistants []core.Assistant `json:"assistants" jsonschema:"required"`
	Pagination Pagination       `json:"pagination" jsonschema:"required"`
}

// UpdateAssistantInput names the assistant and the fields to change.
type UpdateAssistantInput struct {
	ID string `json:"id" jsonschema:"description=The assistant's id,minLength=1,maxLength=128"`
	core.AssistantConfig
}

// JSONSchemaExtend makes only the id required: every other field is
// optional in an update.
func (UpdateAssistantInput) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Required = []string{"id"}
}

func assistantTools(svc *core.Configuration) []Tool {
	return []Tool{
		define("create_assistant", "Create assistant",
			"Create a voice assistant: its name, first_message and llm_config (model, system prompt in messages, and tools). "+
				"A transfer_call tool lists the destinations the assistant may transfer callers to: "+
				`{"type":"number","number":"+31612345678","description":"when to use it","message":"said before the transfer"}, or {"type":"sip","sip_uri":"sip:desk@pbx.example.com",...}.`,
			Hints{Idempotent: false},
			func(ctx context.Context, in core.AssistantConfig) (AssistantOutput, string, error) {
				a, err := svc.CreateAssistant(ctx, in)
				if err != nil {
					return AssistantOutput{}, "", err
				}
				return AssistantOutput{a}, fmt.Sprintf("Created assistant %q (%s).", a.Name, a.ID), nil
			}),
		define("get_assistant", "Get assistant",
			"Get one assistant's configuration by id. The webhook secret is never shown; webhook_secret_set says whether one is stored.",
			Hints{ReadOnly: true, Idempotent: true},
			func(ctx context.Context, in GetInput) (AssistantOutput, string, error) {
				if err := requireID("id", in.ID); err != nil {
					return AssistantOutput{}, "", err
				}
				a, err := svc.GetAssistant(ctx, in.ID)
				if err != nil {
					return AssistantOutput{}, "", err
				}
				return AssistantOutput{a}, fmt.Sprintf("Assistant %q (%s).", a.Name, a.ID), nil
			}),
		define("list_assistants", "List assistants",
			"List assistants, oldest first, a page at a time (limit up to 100, offset).",
			Hints{ReadOnly: true, Idempotent: true},
			func(ctx context.Context, in ListInput) (AssistantListOutput, string, error) {
				list, total, err := svc.ListAssistants(ctx, in.page())
				if err != nil {
					return AssistantListOutput{}, "", err
				}
				if list == nil {
					list = []core.Assistant{}
				}
				return AssistantListOutput{list, pagination(in, total)},
					fmt.Sprintf("%d of %d assistants.", len(list), total), nil
			}),
		defineRaw("update_assistant", "Update assistant",
			"Change an assistant: only the fields sent change (a JSON merge patch: nested llm_config fields merge, arrays such as tools are replaced whole, null removes an optional field).",
			Hints{Idempotent: true},
			func(ctx context.Context, in UpdateAssistantInput, raw json.RawMessage) (AssistantOutput, string, error) {
				if err := requireID("id", in.ID); err != nil {
					return AssistantOutput{}, "", err
				}
				patch, err := withoutKey(raw, "id")
				if err != nil {
					return AssistantOutput{}, "", err
				}
				a, err := svc.UpdateAssistant(ctx, in.ID, patch)
				if err != nil {
					return AssistantOutput{}, "", err
				}
				return AssistantOutput{a}, fmt.Sprintf("Updated assistant %q (%s).", a.Name, a.ID), nil
			}),
		define("delete_assistant", "Delete assistant",
			"Delete an assistant. While a phone number uses it this is a conflict, unless force is set: then those numbers are detached and stop answering calls.",
			Hints{Destructive: true, Idempotent: false},
			func(ctx context.Context, in DeleteInput) (DeleteOutput, string, error) {
				if err := requireID("id", in.ID); err != nil {
					return DeleteOutput{}, "", err
				}
				if err := svc.DeleteAssistant(ctx, in.ID, in.Force); err != nil {
					return DeleteOutput{}, "", err
				}
				return DeleteOutput{true, in.ID}, fmt.Sprintf("Deleted assistant %s.", in.ID), nil
			}),
	}
}

// withoutKey returns the JSON object raw without one key.
func withoutKey(raw json.RawMessage, key string) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, core.Errorf(core.CodeInvalidRequest, "arguments must be a JSON object")
	}
	delete(fields, key)
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, core.Internal("encoding the change", err)
	}
	return out, nil
}
