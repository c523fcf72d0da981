package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/core"
)

// registerPrompts adds the transfer_policy prompt.
func registerPrompts(s *mcpserver.MCPServer, config *core.Configuration) {
	s.AddPrompt(mcp.NewPrompt("transfer_policy",
		mcp.WithPromptDescription("The system-prompt section that tells an assistant's LLM when to transfer a caller to each of its destinations, written from the destinations' descriptions."),
		mcp.WithArgument("assistant_id", mcp.RequiredArgument(), mcp.ArgumentDescription("The assistant whose transfer_call destinations to describe")),
	), func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		id := req.Params.Arguments["assistant_id"]
		if strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("assistant_id is required")
		}
		a, err := config.GetAssistant(ctx, id)
		if err != nil {
			e := core.AsError(err)
			return nil, fmt.Errorf("%s: %s", e.Code, e.Message)
		}
		return &mcp.GetPromptResult{
			Description: "When " + a.Name + " transfers callers",
			Messages: []mcp.PromptMessage{{
				Role:    mcp.RoleUser,
				Content: mcp.NewTextContent(TransferPolicyText(a)),
			}},
		}, nil
	})
}

// TransferPolicyText renders the transfer section of a system prompt in
// the style of the VoiceDock guide: help first, then the destinations with
// when to use each.
func TransferPolicyText(a core.Assistant) string {
	dests := a.TransferDestinations()
	if len(dests) == 0 {
		return "You cannot transfer callers: no transfer destinations are configured. Help the caller yourself, and offer to take a message when you cannot."
	}
	var b strings.Builder
	b.WriteString("You can answer most questions yourself, but transfer the caller with the transfer_call tool to:\n")
	for _, d := range dests {
		fmt.Fprintf(&b, "- %s: %s", d.Target(), strings.TrimSpace(d.Description))
		if d.Message != "" {
			fmt.Fprintf(&b, " (before transferring, say: %q)", d.Message)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nAlways try to help first before transferring, and use only these destinations. ")
	b.WriteString("If a transfer fails (busy, no answer), the caller is still with you: say so, and offer another destination or to take a message.")
	return b.String()
}
