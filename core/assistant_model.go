package core

import (
	"context"
	"encoding/json"
)

// AssistantModel is the language model that holds a call's conversation
// when its assistant has an llm_config: given the conversation so far and
// the tools it may call, it answers with what to say, tools to call, or
// both. An adapter (the llm package: an OpenAI-compatible chat completions
// endpoint) implements it; the core never sees the wire format.
type AssistantModel interface {
	Complete(ctx context.Context, req ModelRequest) (ModelReply, error)
}

// Roles of a model message besides RoleUser and RoleAssistant.
const (
	RoleSystem = "system"
	RoleTool   = "tool" // the result of a tool call, answering ToolCallID
)

// ModelRequest is one completion: llm_config's model, temperature and
// max_completion_tokens as given, the messages (llm_config.messages, then
// the call's conversation) and the tools.
type ModelRequest struct {
	Model               string
	Temperature         *float64
	MaxCompletionTokens int
	Messages            []ModelMessage
	Tools               []ModelTool
}

// ModelMessage is one message of the conversation the model is given.
type ModelMessage struct {
	Role    string
	Content string
	// ToolCalls are the tools an assistant message asked for.
	ToolCalls []ModelToolCall
	// ToolCallID is the call a RoleTool message answers.
	ToolCallID string
}

// ModelTool is a function the model may call.
type ModelTool struct {
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments.
	Parameters json.RawMessage
}

// ModelToolCall is the model asking for a tool.
type ModelToolCall struct {
	ID   string
	Name string
	// Arguments is the JSON object of arguments, as the model wrote it:
	// untrusted input, checked like any tool input.
	Arguments string
}

// ModelReply is the model's answer: text to say, tools to call, or both
// (the text is said first).
type ModelReply struct {
	Content   string
	ToolCalls []ModelToolCall
}
