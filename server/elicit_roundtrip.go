package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/tools"
)

// Protocol 2026-07-28 has no server-initiated requests: a tool that needs
// the user's answer returns an input-required result carrying the
// question, and the client calls the tool again with the answer
// (inputResponses) and the opaque requestState it was given. An ad-hoc
// transfer destination is confirmed that way, under the same rules as the
// elicitation of 2025-11-25: asked only when the client declares the
// elicitation capability, refused (destination_not_allowed) on a decline
// or when the question comes back unanswered, and nothing is sent or
// recorded before the answer.

// roundTripState is what the server needs back on the next round: the
// destinations the user already confirmed and the one last asked about.
// It travels through the client, so it is signed.
type roundTripState struct {
	Confirmed []string `json:"confirmed,omitempty"`
	Asked     string   `json:"asked,omitempty"`
}

// stateSigner signs and checks round-trip states with a key made at start:
// a state from another server process is not accepted, and the question is
// simply asked again.
type stateSigner struct{ key []byte }

func newStateSigner() *stateSigner {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read does not fail (Go 1.24+)
	return &stateSigner{key: key}
}

func (s *stateSigner) sign(st roundTripState) string {
	body, _ := json.Marshal(st)
	mac := hmac.New(sha256.New, s.key)
	mac.Write(body)
	return base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (s *stateSigner) open(token string) (roundTripState, bool) {
	b64, sig, ok := strings.Cut(token, ".")
	if !ok {
		return roundTripState{}, false
	}
	body, err1 := base64.RawURLEncoding.DecodeString(b64)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return roundTripState{}, false
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return roundTripState{}, false
	}
	var st roundTripState
	if json.Unmarshal(body, &st) != nil {
		return roundTripState{}, false
	}
	return st, true
}

// confirmInputID is the input request's key for one destination.
func confirmInputID(destination string) string {
	sum := sha256.Sum256([]byte(destination))
	return "confirm_transfer_" + hex.EncodeToString(sum[:8])
}

// roundTrip is one request's confirmations on 2026-07-28; question is set
// when the user must be asked before the call can go on.
type roundTrip struct {
	signer   *stateSigner
	state    roundTripState
	question *core.Confirmation
}

// roundTripConfirmer returns the confirmer of a 2026-07-28 request whose
// client declared the elicitation capability.
func roundTripConfirmer(ctx context.Context, req mcp.CallToolRequest, signer *stateSigner) (tools.Confirmer, *roundTrip, bool) {
	if !mcp.IsModernProtocol(mcpserver.RequestProtocolVersion(ctx)) || !declaresElicitation(req) {
		return tools.Confirmer{}, nil, false
	}
	rt := &roundTrip{signer: signer}
	if req.Params.RequestState != "" {
		rt.state, _ = signer.open(req.Params.RequestState)
	}
	answers := req.Params.InputResponses
	ask := func(_ context.Context, q core.Confirmation) (bool, error) {
		if slices.Contains(rt.state.Confirmed, q.Destination) {
			return true, nil
		}
		if res := mcpserver.ElicitationResponse(answers, confirmInputID(q.Destination)); res != nil {
			if res.Action != mcp.ElicitationResponseActionAccept || !confirmed(res.Content) {
				return false, nil
			}
			rt.state.Confirmed = append(rt.state.Confirmed, q.Destination)
			return true, nil
		}
		if rt.state.Asked == q.Destination {
			return false, errors.New("the client came back without the user's answer")
		}
		rt.question = &q
		return false, core.ErrAskLater
	}
	return tools.Confirmer{Ask: ask, Via: ConfirmedByElicitation}, rt, true
}

// inputRequired is the result asking the client to put rt's question to
// the user and call again.
func (rt *roundTrip) inputRequired() *mcp.CallToolResult {
	q := *rt.question
	st := rt.state
	st.Asked = q.Destination
	return mcpserver.NewInputRequestBuilder(rt.signer.sign(st)).Elicit(confirmInputID(q.Destination), confirmParams(q)).ToolResult()
}

// declaresElicitation reads the client's capabilities from the request's
// _meta, where 2026-07-28 carries them on every request.
func declaresElicitation(req mcp.CallToolRequest) bool {
	if req.Params.Meta == nil {
		return false
	}
	raw, ok := req.Params.Meta.AdditionalFields[mcp.MetaKeyClientCapabilities]
	if !ok {
		return false
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return false
	}
	var caps mcp.ClientCapabilities
	return json.Unmarshal(b, &caps) == nil && caps.Elicitation != nil
}
