package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// The functions a model may call: the assistant's built-in tools.
// Custom (webhook) function tools are not offered: this server does not
// run the tool-calls webhook, and a tool the model cannot use would only
// mislead it.
const (
	modelToolTransfer = "transfer_call"
	modelToolEndCall  = "end_call"
)

// RequestedByModel is the requested_by of a transfer the call's model
// chose, in the transfer's audit trail beside the API keys' names.
const RequestedByModel = "assistant-model"

// modelTools returns the assistant's transfer_call (its destinations as an
// enum, each described) and end_call as function tools.
func modelTools(a *Assistant) []ModelTool {
	if a == nil || a.LLMConfig == nil {
		return nil
	}
	var tools []ModelTool
	if dests := a.TransferDestinations(); len(dests) > 0 {
		targets := make([]string, 0, len(dests))
		var desc strings.Builder
		desc.WriteString("Transfer the caller to a human. The caller hears the destination's message, then is moved; if the transfer fails the caller stays with you and the result says why. Destinations:")
		for _, d := range dests {
			targets = append(targets, d.Target())
			fmt.Fprintf(&desc, "\n- %s: %s", d.Target(), d.Description)
		}
		params, _ := json.Marshal(map[string]any{
			"type": "object",
			"properties": map[string]any{
				"destination": map[string]any{
					"type": "string", "enum": targets,
					"description": "The destination to transfer to, exactly as listed",
				},
			},
			"required":             []string{"destination"},
			"additionalProperties": false,
		})
		tools = append(tools, ModelTool{Name: modelToolTransfer, Description: desc.String(), Parameters: params})
	}
	for _, t := range a.LLMConfig.Tools {
		if t.Type == ToolEndCall {
			tools = append(tools, ModelTool{
				Name:        modelToolEndCall,
				Description: "Hang up the call. Say goodbye in the same reply first: the reply's text is spoken before the call ends.",
				Parameters:  json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`),
			})
			break
		}
	}
	return tools
}

// toolOutcome is what a tool call did: the result the model is told, and
// whether the call is over for the model (ended, transferred).
type toolOutcome struct {
	result string
	over   bool
}

// runTool carries out one tool call of the model through the same core
// path as the MCP tools: Transfer (policy, message, REFER, tracking) and
// EndCallSaying. The model's arguments are untrusted input.
func (c *Conversations) runTool(ctx context.Context, callID string, tc ModelToolCall) toolOutcome {
	switch tc.Name {
	case modelToolTransfer:
		var args struct {
			Destination string `json:"destination"`
		}
		if err := json.Unmarshal([]byte(cmpOr(tc.Arguments, "{}")), &args); err != nil {
			return toolResult(map[string]any{"status": "error", "error": "invalid_argument: the arguments are not a JSON object with a destination"}, false)
		}
		dest := strings.TrimSpace(args.Destination)
		if !c.listed(callID, dest) {
			// The model chooses only among its assistant's destinations,
			// whatever the policy allows an MCP client: a caller who talks
			// the model into dialling elsewhere gets nowhere.
			c.logger.WarnContext(ctx, "model asked for a transfer to an unlisted destination", "call_id", callID, "destination", clip(dest))
			return toolResult(map[string]any{"status": "error", "error": "destination_not_allowed: not one of the listed destinations; nothing was dialled"}, false)
		}
		t, err := c.calls.Transfer(ctx, TransferRequest{CallID: callID, Destination: dest, RequestedBy: RequestedByModel}, nil)
		switch {
		case err == nil && t.Status == TransferCompleted:
			return toolResult(map[string]any{"status": "completed", "destination": t.Destination}, true)
		case err == nil:
			// ctx ended while the transfer goes on: the call is shutting
			// down or the model was stopped.
			return toolResult(map[string]any{"status": t.Status, "destination": t.Destination}, true)
		case HasCode(err, CodeTransferFailed):
			r := map[string]any{"status": "failed", "destination": t.Destination, "reason": t.Reason, "caller": "still connected to you"}
			if t.SIPStatus != 0 {
				r["sip_status"] = t.SIPStatus
			}
			return toolResult(r, false)
		default:
			// Refused before anything was dialled (policy, conflict,
			// rate limit), or the call is gone.
			return toolResult(map[string]any{"status": "error", "error": AsError(err).Error()}, HasCode(err, CodeCallNotActive))
		}
	case modelToolEndCall:
		if _, err := c.calls.EndCallSaying(ctx, callID, ""); err != nil {
			return toolResult(map[string]any{"status": "error", "error": AsError(err).Error()}, HasCode(err, CodeCallNotActive))
		}
		return toolResult(map[string]any{"status": "ended"}, true)
	}
	return toolResult(map[string]any{"status": "error", "error": fmt.Sprintf("invalid_argument: no tool named %q", clip(tc.Name))}, false)
}

func toolResult(v map[string]any, over bool) toolOutcome {
	b, _ := json.Marshal(v)
	return toolOutcome{result: string(b), over: over}
}

func cmpOr(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
