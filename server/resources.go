package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/core"
)

// Resource URIs.
const (
	callsURI        = "voicedock://calls"
	callURIPrefix   = "voicedock://calls/"
	assistantPrefix = "voicedock://assistants/"
	trunkPrefix     = "voicedock://trunks/"
	numberPrefix    = "voicedock://phone-numbers/"
)

// resources serves the call and configuration resources and keeps track
// of subscriptions: mcp-go acknowledges resources/subscribe but remembers
// nothing, so this does, and forgets a session's subscriptions when the
// session ends.
type resources struct {
	calls  *core.Calls
	config *core.Configuration
	logger *slog.Logger
	srv    *mcpserver.MCPServer

	mu       sync.Mutex
	subs     map[string]map[string]bool // session id -> subscribed URIs
	sessions map[string]bool            // every registered session
}

func newResources(calls *core.Calls, config *core.Configuration, logger *slog.Logger) *resources {
	return &resources{calls: calls, config: config, logger: logger, subs: map[string]map[string]bool{}, sessions: map[string]bool{}}
}

// hooks records subscriptions and session ends.
func (r *resources) hooks(h *mcpserver.Hooks) {
	h.AddAfterSubscribe(func(ctx context.Context, _ any, msg *mcp.SubscribeRequest, _ *mcp.EmptyResult) {
		session := mcpserver.ClientSessionFromContext(ctx)
		if session == nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		set := r.subs[session.SessionID()]
		if set == nil {
			set = map[string]bool{}
			r.subs[session.SessionID()] = set
		}
		set[msg.Params.URI] = true
	})
	h.AddAfterUnsubscribe(func(ctx context.Context, _ any, msg *mcp.UnsubscribeRequest, _ *mcp.EmptyResult) {
		session := mcpserver.ClientSessionFromContext(ctx)
		if session == nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.subs[session.SessionID()], msg.Params.URI)
	})
	h.AddOnRegisterSession(func(_ context.Context, session mcpserver.ClientSession) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sessions[session.SessionID()] = true
	})
	h.AddOnUnregisterSession(func(_ context.Context, session mcpserver.ClientSession) {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.subs, session.SessionID())
		delete(r.sessions, session.SessionID())
	})
}

// subscribers returns the sessions subscribed to any of uris.
func (r *resources) subscribers(uris ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for session, set := range r.subs {
		for _, u := range uris {
			if set[u] {
				out = append(out, session)
				break
			}
		}
	}
	return out
}

// register adds the resources and templates to the server.
func (r *resources) register(s *mcpserver.MCPServer) {
	r.srv = s
	s.AddResource(mcp.NewResource(callsURI, "Live calls",
		mcp.WithResourceDescription("The calls held now (ringing, dialing or in progress), newest first. Subscribe to hear of every change."),
		mcp.WithMIMEType("application/json")), r.readLiveCalls)
	s.AddResourceTemplate(mcp.NewResourceTemplate(callURIPrefix+"{id}", "Call",
		mcp.WithTemplateDescription("One call with its transfers and their steps and its conversation (messages). Subscribe to hear of every status change, transfer step, line of the transcript and key the caller presses."),
		mcp.WithTemplateMIMEType("application/json")), r.readCall)
	s.AddResourceTemplate(mcp.NewResourceTemplate(assistantPrefix+"{id}", "Assistant",
		mcp.WithTemplateDescription("An assistant's configuration (without its webhook secret)."),
		mcp.WithTemplateMIMEType("application/json")), r.readAssistant)
	s.AddResourceTemplate(mcp.NewResourceTemplate(trunkPrefix+"{id}", "SIP trunk",
		mcp.WithTemplateDescription("A SIP trunk (without its password)."),
		mcp.WithTemplateMIMEType("application/json")), r.readTrunk)
	s.AddResourceTemplate(mcp.NewResourceTemplate(numberPrefix+"{id}", "Phone number",
		mcp.WithTemplateDescription("A phone number with its assistant and transfer trunk."),
		mcp.WithTemplateMIMEType("application/json")), r.readNumber)
}

func jsonContents(uri string, v any) ([]mcp.ResourceContents, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", uri, err)
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, MIMEType: "application/json", Text: string(b)}}, nil
}

// resourceError turns a domain error into what a resources/read caller
// sees: not found as such, anything else without internals.
func resourceError(uri string, err error) error {
	e := core.AsError(err)
	if e.Code == core.CodeNotFound {
		return fmt.Errorf("%w: %s", mcpserver.ErrResourceNotFound, uri)
	}
	return fmt.Errorf("%s: %s", e.Code, e.Message)
}

func idFrom(uri, prefix string) string {
	id := strings.TrimPrefix(uri, prefix)
	if id == uri || id == "" || strings.Contains(id, "/") {
		return ""
	}
	return id
}

func (r *resources) readLiveCalls(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	var live []core.Call
	for _, status := range []string{core.CallInProgress, core.CallRinging, core.CallDialing} {
		list, _, err := r.calls.ListCalls(ctx, core.CallFilter{Status: status, Page: core.Page{Limit: core.MaxPageLimit}})
		if err != nil {
			return nil, resourceError(req.Params.URI, err)
		}
		live = append(live, list...)
	}
	if live == nil {
		live = []core.Call{}
	}
	return jsonContents(req.Params.URI, map[string]any{"calls": live})
}

func (r *resources) readCall(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	c, err := r.calls.GetCall(ctx, idFrom(req.Params.URI, callURIPrefix))
	if err != nil {
		return nil, resourceError(req.Params.URI, err)
	}
	return jsonContents(req.Params.URI, map[string]any{"call": c})
}

func (r *resources) readAssistant(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	a, err := r.config.GetAssistant(ctx, idFrom(req.Params.URI, assistantPrefix))
	if err != nil {
		return nil, resourceError(req.Params.URI, err)
	}
	return jsonContents(req.Params.URI, map[string]any{"assistant": a})
}

func (r *resources) readTrunk(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	t, err := r.config.GetTrunk(ctx, idFrom(req.Params.URI, trunkPrefix))
	if err != nil {
		return nil, resourceError(req.Params.URI, err)
	}
	return jsonContents(req.Params.URI, map[string]any{"trunk": t})
}

func (r *resources) readNumber(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	n, err := r.config.GetPhoneNumber(ctx, idFrom(req.Params.URI, numberPrefix))
	if err != nil {
		return nil, resourceError(req.Params.URI, err)
	}
	return jsonContents(req.Params.URI, map[string]any{"number": n})
}

// forward turns domain events into MCP notifications until ctx ends:
// resources/updated to the sessions subscribed to the call (or to the live
// calls), list_changed when a call starts or ends, and an info log line.
func (r *resources) forward(ctx context.Context, bus *core.Bus) {
	sub := bus.Subscribe(nil)
	defer func() { sub.Close() }()
	live := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.C:
			if !ok && sub.Lagged() {
				// Cut off the bus for falling behind: events were missed.
				sub = bus.Subscribe(nil)
				r.resync(ctx, live)
				continue
			}
			if !ok {
				return
			}
			r.announce(e, live)
		}
	}
}

// resync follows missed events: every subscribed resource and the list
// may have changed, and which calls are live is read from the store.
func (r *resources) resync(ctx context.Context, live map[string]bool) {
	r.logger.Warn("resource notifications fell behind the events; telling every subscriber to read again")
	clear(live)
	for _, status := range []string{core.CallInProgress, core.CallRinging, core.CallDialing} {
		list, _, err := r.calls.ListCalls(ctx, core.CallFilter{Status: status, Page: core.Page{Limit: core.MaxPageLimit}})
		if err != nil {
			r.logger.Warn("resync live calls", "err", err)
		}
		for _, c := range list {
			live[c.ID] = true
		}
	}
	r.mu.Lock()
	subs := map[string][]string{}
	for session, set := range r.subs {
		for uri := range set {
			subs[session] = append(subs[session], uri)
		}
	}
	r.mu.Unlock()
	for session, uris := range subs {
		for _, uri := range uris {
			r.send(session, uri)
		}
	}
	r.srv.SendNotificationToAllClients(mcp.MethodNotificationResourcesListChanged, nil)
}

func (r *resources) announce(e core.Event, live map[string]bool) {
	callURI := callURIPrefix + e.Call.ID
	for _, session := range r.subscribers(callURI) {
		r.send(session, callURI)
	}
	for _, session := range r.subscribers(callsURI) {
		r.send(session, callsURI)
	}
	if e.Type == core.EventCallStatus {
		wasLive, isLive := live[e.Call.ID], e.Call.Live()
		if isLive {
			live[e.Call.ID] = true
		} else {
			delete(live, e.Call.ID)
		}
		if wasLive != isLive {
			r.srv.SendNotificationToAllClients(mcp.MethodNotificationResourcesListChanged, nil)
		}
	}
	r.log(e)
}

func (r *resources) send(session, uri string) {
	err := r.srv.SendNotificationToSpecificClient(session, mcp.MethodNotificationResourceUpdated, map[string]any{"uri": uri})
	if err != nil {
		r.logger.Debug("resource update not sent", "session", session, "uri", uri, "err", err)
	}
}

// log sends call and transfer events as MCP log messages at info level to
// every session whose level lets them through.
func (r *resources) log(e core.Event) {
	r.mu.Lock()
	sessions := make([]string, 0, len(r.sessions))
	for s := range r.sessions {
		sessions = append(sessions, s)
	}
	r.mu.Unlock()
	if len(sessions) == 0 {
		return // no one to tell: the message is not built for nobody
	}
	data := map[string]any{"call_id": e.Call.ID, "call_status": e.Call.Status}
	msg := fmt.Sprintf("call %s is %s", e.Call.ID, e.Call.Status)
	if e.Transfer != nil {
		data["transfer_id"] = e.Transfer.ID
		data["transfer_status"] = e.Transfer.Status
		data["destination"] = e.Transfer.Destination
		if e.Transfer.SIPStatus != 0 {
			data["sip_status"] = e.Transfer.SIPStatus
		}
		msg = fmt.Sprintf("transfer of call %s to %s: %s", e.Call.ID, e.Transfer.Destination, e.Transfer.Status)
	}
	if l := e.Line; l != nil {
		data["line_id"], data["role"], data["content"] = l.ID, l.Role, l.Content
		msg = fmt.Sprintf("call %s, %s: %s", e.Call.ID, l.Role, l.Content)
	}
	if d := e.Digit; d != nil {
		data["digit_id"], data["digit"], data["source"] = d.ID, d.Digit, d.Source
		msg = fmt.Sprintf("call %s: the caller pressed %s", e.Call.ID, d.Digit)
	}
	data["message"] = msg
	n := mcp.NewLoggingMessageNotification(mcp.LoggingLevelInfo, "voicedock", data)
	for _, session := range sessions {
		// Sessions that never set a level, or set it above info, get
		// nothing: mcp-go checks the level per session.
		if err := r.srv.SendLogMessageToSpecificClient(session, n); err != nil {
			r.logger.Debug("log message not sent", "session", session, "err", err)
		}
	}
}
