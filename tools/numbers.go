package tools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"

	"github.com/voicedock/voicedock/core"
)

// PhoneNumberOutput wraps one number, as the VoiceDock API does.
type PhoneNumberOutput struct {
	Number core.PhoneNumber `json:"number" jsonschema:"required"`
}

// PhoneNumberListOutput is a page of numbers.
type PhoneNumberListOutput struct {
	Numbers    []core.PhoneNumber `json:"numbers" jsonschema:"required"`
	Pagination Pagination         `json:"pagination" jsonschema:"required"`
}

// CreatePhoneNumberInput registers a number.
type CreatePhoneNumberInput struct {
	core.PhoneNumberConfig
	AgentID *string `json:"agent_id,omitempty" jsonschema:"description=Deprecated alias of assistant_id,oneof_type=string;null"`
}

// UpdatePhoneNumberInput names the number and the fields to change.
type UpdatePhoneNumberInput struct {
	ID string `json:"id" jsonschema:"description=The phone number's id,minLength=1,maxLength=128"`
	CreatePhoneNumberInput
}

// JSONSchemaExtend makes only the id required in an update.
func (UpdatePhoneNumberInput) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Required = []string{"id"}
}

// resolveAgentAlias folds agent_id into assistant_id in a raw object.
func resolveAgentAlias(raw json.RawMessage) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, core.Errorf(core.CodeInvalidRequest, "arguments must be a JSON object")
	}
	alias, ok := fields["agent_id"]
	if !ok {
		return raw, nil
	}
	if cur, both := fields["assistant_id"]; both && string(cur) != string(alias) {
		return nil, core.FieldError(core.CodeInvalidRequest, "agent_id", "agent_id and assistant_id disagree; send assistant_id only")
	}
	fields["assistant_id"] = alias
	delete(fields, "agent_id")
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, core.Internal("encoding the change", err)
	}
	return out, nil
}

func describeNumber(verb string, n core.PhoneNumber) string {
	s := fmt.Sprintf("%s phone number %s (%s)", verb, n.PhoneNumber, n.ID)
	if n.AssistantID != nil {
		s += ", answered by assistant " + *n.AssistantID
	} else {
		s += ", no assistant: its calls are not answered"
	}
	if n.TransferTrunkID != nil {
		s += ", transfers via trunk " + *n.TransferTrunkID
	}
	return s + "."
}

func numberTools(svc *core.Configuration) []Tool {
	return []Tool{
		defineRaw("create_phone_number", "Register phone number",
			"Register an E.164 phone number whose calls reach this server, optionally with the assistant that answers them (assistant_id) and the SIP trunk its transfers go through (transfer_trunk_id).",
			Hints{},
			func(ctx context.Context, _ CreatePhoneNumberInput, raw json.RawMessage) (PhoneNumberOutput, string, error) {
				resolved, err := resolveAgentAlias(raw)
				if err != nil {
					return PhoneNumberOutput{}, "", err
				}
				var cfg core.PhoneNumberConfig
				if err := core.DecodeStrict(resolved, &cfg); err != nil {
					return PhoneNumberOutput{}, "", err
				}
				n, err := svc.CreatePhoneNumber(ctx, cfg)
				if err != nil {
					return PhoneNumberOutput{}, "", err
				}
				return PhoneNumberOutput{n}, describeNumber("Registered", n), nil
			}),
		define("get_phone_number", "Get phone number",
			"Get one phone number by id, with its assistant and transfer trunk.",
			Hints{ReadOnly: true, Idempotent: true},
			func(ctx context.Context, in GetInput) (PhoneNumberOutput, string, error) {
				if err := requireID("id", in.ID); err != nil {
					return PhoneNumberOutput{}, "", err
				}
				n, err := svc.GetPhoneNumber(ctx, in.ID)
				if err != nil {
					return PhoneNumberOutput{}, "", err
				}
				return PhoneNumberOutput{n}, describeNumber("Phone number", n), nil
			}),
		define("list_phone_numbers", "List phone numbers",
			"List registered phone numbers, oldest first, a page at a time.",
			Hints{ReadOnly: true, Idempotent: true},
			func(ctx context.Context, in ListInput) (PhoneNumberListOutput, string, error) {
				list, total, err := svc.ListPhoneNumbers(ctx, in.page())
				if err != nil {
					return PhoneNumberListOutput{}, "", err
				}
				if list == nil {
					list = []core.PhoneNumber{}
				}
				return PhoneNumberListOutput{list, pagination(in, total)}, fmt.Sprintf("%d of %d phone numbers.", len(list), total), nil
			}),
		defineRaw("update_phone_number", "Update phone number",
			"Change a phone number: only the fields sent change. Set assistant_id or transfer_trunk_id to attach, or to null to detach.",
			Hints{Idempotent: true},
			func(ctx context.Context, in UpdatePhoneNumberInput, raw json.RawMessage) (PhoneNumberOutput, string, error) {
				if err := requireID("id", in.ID); err != nil {
					return PhoneNumberOutput{}, "", err
				}
				patch, err := withoutKey(raw, "id")
				if err != nil {
					return PhoneNumberOutput{}, "", err
				}
				if patch, err = resolveAgentAlias(patch); err != nil {
					return PhoneNumberOutput{}, "", err
				}
				n, err := svc.UpdatePhoneNumber(ctx, in.ID, patch)
				if err != nil {
					return PhoneNumberOutput{}, "", err
				}
				return PhoneNumberOutput{n}, describeNumber("Updated", n), nil
			}),
		define("delete_phone_number", "Delete phone number",
			"Delete a registered phone number; its calls are no longer answered.",
			Hints{Destructive: true},
			func(ctx context.Context, in GetInput) (DeleteOutput, string, error) {
				if err := requireID("id", in.ID); err != nil {
					return DeleteOutput{}, "", err
				}
				if err := svc.DeletePhoneNumber(ctx, in.ID); err != nil {
					return DeleteOutput{}, "", err
				}
				return DeleteOutput{true, in.ID}, fmt.Sprintf("Deleted phone number %s.", in.ID), nil
			}),
	}
}
