package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/tools"
)

// ConfirmedByElicitation is a transfer's confirmed_by when the user
// confirmed it through an MCP elicitation.
const ConfirmedByElicitation = "elicitation"

// confirmer asks the client of the request being handled to confirm an
// ad-hoc transfer destination with elicitation/create, when the session's
// client declared the elicitation capability at initialize and the
// transport can send server-to-client requests. Requests of the
// 2026-07-28 protocol, which has no server-initiated requests, are asked
// with an input-required round trip instead (roundTripConfirmer).
func confirmer(ctx context.Context, logger *slog.Logger) (tools.Confirmer, bool) {
	srv := mcpserver.ServerFromContext(ctx)
	session := mcpserver.ClientSessionFromContext(ctx)
	if srv == nil || session == nil || mcp.IsModernProtocol(mcpserver.RequestProtocolVersion(ctx)) {
		return tools.Confirmer{}, false
	}
	withInfo, ok := session.(mcpserver.SessionWithClientInfo)
	if !ok || withInfo.GetClientCapabilities().Elicitation == nil {
		return tools.Confirmer{}, false
	}
	if _, ok := session.(mcpserver.SessionWithElicitation); !ok {
		return tools.Confirmer{}, false
	}
	ask := func(ctx context.Context, q core.Confirmation) (bool, error) {
		req := mcp.ElicitationRequest{
			Request: mcp.Request{Method: string(mcp.MethodElicitationCreate)},
			Params:  confirmParams(q),
		}
		res, err := srv.RequestElicitation(ctx, req)
		if err != nil {
			return false, err
		}
		if res == nil {
			return false, fmt.Errorf("no elicitation result")
		}
		logger.InfoContext(ctx, "transfer confirmation answered", "destination", q.Destination, "action", res.Action)
		if res.Action != mcp.ElicitationResponseActionAccept {
			return false, nil
		}
		return confirmed(res.Content), nil
	}
	return tools.Confirmer{Ask: ask, Via: ConfirmedByElicitation}, true
}

// confirmed reads {"confirm": true} from an accepted elicitation's
// content; anything else is a no.
func confirmed(content any) bool {
	m, ok := content.(map[string]any)
	if !ok {
		return false
	}
	v, ok := m["confirm"].(bool)
	return ok && v
}

// confirmParams is the question put to the user about an ad-hoc
// destination, in either protocol era.
func confirmParams(q core.Confirmation) mcp.ElicitationParams {
	return mcp.ElicitationParams{
		Message: q.Message(),
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"confirm": map[string]any{
					"type":        "boolean",
					"title":       "Transfer the caller",
					"description": "Yes to transfer the caller to " + q.Destination,
				},
			},
			"required": []string{"confirm"},
		},
	}
}
