package core

import (
	"fmt"
	"testing"
)

// A long call's conversation keeps its latest messages, never starting
// with a tool result whose call was dropped.
func TestConversationHistoryIsBounded(t *testing.T) {
	conv := &conversation{assistant: &Assistant{AssistantConfig: AssistantConfig{LLMConfig: &LLMConfig{
		Model: "m", Messages: []Message{{Role: RoleSystem, Content: "prompt"}},
	}}}}
	// 300 messages: assistant tool call, tool result, user; the cut at
	// maxHistory from the end falls on a tool result.
	for i := range 100 {
		conv.history = append(conv.history,
			ModelMessage{Role: RoleAssistant, ToolCalls: []ModelToolCall{{ID: fmt.Sprint(i), Name: "end_call"}}},
			ModelMessage{Role: RoleTool, ToolCallID: fmt.Sprint(i), Content: "{}"},
			ModelMessage{Role: RoleUser, Content: fmt.Sprint("line ", i)})
	}
	req := conv.requestLocked()
	if len(req.Messages) != maxHistory || req.Messages[0].Content != "prompt" || req.Messages[1].Role != RoleUser ||
		req.Messages[len(req.Messages)-1].Content != "line 99" || len(conv.history) != maxHistory-1 {
		t.Fatalf("%d messages, first %+v, %+v; %d kept", len(req.Messages), req.Messages[0], req.Messages[1], len(conv.history))
	}
}
