package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/voicedock/voicedock/core"
)

// The chat completions API's JSON, as much of it as is used.

type chatRequest struct {
	Model               string        `json:"model,omitempty"`
	Messages            []chatMessage `json:"messages"`
	Temperature         *float64      `json:"temperature,omitempty"`
	MaxCompletionTokens int           `json:"max_completion_tokens,omitempty"`
	Tools               []chatTool    `json:"tools,omitempty"`
}

type chatMessage struct {
	Role string `json:"role"`
	// Content is null on an assistant message that only calls tools.
	Content    *string        `json:"content"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type chatTool struct {
	Type     string       `json:"type"`
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatResponse struct {
	Choices []struct {
		Message struct {
			Content   *string        `json:"content"`
			Refusal   *string        `json:"refusal"`
			ToolCalls []chatToolCall `json:"tool_calls"`
		} `json:"message"`
	} `json:"choices"`
}

func encodeRequest(req core.ModelRequest) chatRequest {
	out := chatRequest{Model: req.Model, Temperature: req.Temperature, MaxCompletionTokens: req.MaxCompletionTokens}
	out.Messages = make([]chatMessage, 0, len(req.Messages))
	for _, m := range req.Messages {
		cm := chatMessage{Role: m.Role, ToolCallID: m.ToolCallID}
		if m.Content != "" || len(m.ToolCalls) == 0 {
			content := m.Content
			cm.Content = &content
		}
		for _, tc := range m.ToolCalls {
			var w chatToolCall
			w.ID, w.Type = tc.ID, "function"
			w.Function.Name, w.Function.Arguments = tc.Name, tc.Arguments
			cm.ToolCalls = append(cm.ToolCalls, w)
		}
		out.Messages = append(out.Messages, cm)
	}
	for _, t := range req.Tools {
		out.Tools = append(out.Tools, chatTool{Type: "function", Function: chatFunction{Name: t.Name, Description: t.Description, Parameters: t.Parameters}})
	}
	return out
}

// maxToolCalls bounds the tool calls taken from one answer.
const maxToolCalls = 8

// decodeResponse reads the first choice of an answer: untrusted input.
func decodeResponse(b []byte) (core.ModelReply, error) {
	var res chatResponse
	if err := json.Unmarshal(b, &res); err != nil {
		return core.ModelReply{}, fmt.Errorf("not a chat completion: %w", err)
	}
	if len(res.Choices) == 0 {
		return core.ModelReply{}, errors.New("no choices")
	}
	msg := res.Choices[0].Message
	var reply core.ModelReply
	if msg.Content != nil {
		reply.Content = *msg.Content
	}
	if len(msg.ToolCalls) > maxToolCalls {
		return core.ModelReply{}, fmt.Errorf("%d tool calls in one answer (at most %d)", len(msg.ToolCalls), maxToolCalls)
	}
	for i, tc := range msg.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			return core.ModelReply{}, fmt.Errorf("tool call %d is of type %q, not function", i, clip(tc.Type))
		}
		if tc.Function.Name == "" {
			return core.ModelReply{}, fmt.Errorf("tool call %d names no function", i)
		}
		id := tc.ID
		if id == "" {
			// Some servers leave it out; the result must still answer it.
			id = fmt.Sprintf("call_%d", i)
		}
		reply.ToolCalls = append(reply.ToolCalls, core.ModelToolCall{ID: id, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	if reply.Content == "" && len(reply.ToolCalls) == 0 && msg.Refusal != nil {
		return core.ModelReply{}, fmt.Errorf("the model refused: %s", clip(*msg.Refusal))
	}
	return reply, nil
}

// errorMessage is what a non-2xx answer says: the API's error.message,
// or the start of the body.
func errorMessage(b []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Error, &obj) == nil && obj.Message != "" {
			return clip(obj.Message)
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return clip(s)
		}
	}
	return clip(strings.TrimSpace(string(b)))
}

// clip shortens untrusted text for errors and logs.
func clip(s string) string {
	const n = 200
	if len(s) <= n {
		return strings.ToValidUTF8(s, "?")
	}
	// A rune cut in two is dropped with any other invalid bytes.
	return strings.ToValidUTF8(s[:n], "") + "..."
}
