package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// send forwards one line from the client. It returns once the request is
// written to the server (so messages reach it in the client's order) and
// reads the answer on its own goroutine.
func (b *bridge) send(line []byte) {
	line = bytes.TrimSpace(line)
	var env envelope
	if err := json.Unmarshal(line, &env); err != nil {
		// Not a JSON object (a batch, or garbage): the server answers it.
		env = envelope{}
	}
	modern := mcp.IsModernProtocol(env.metaVersion())
	if env.Method == string(mcp.MethodNotificationCancelled) && b.cancelModern(env.Params) {
		// On 2026-07-28 over HTTP, ending the request's stream is the
		// cancellation; the notification has no session to go to.
		return
	}

	ctx, cancel := context.WithCancel(b.ctx)
	isRequest := env.Method != "" && env.hasID()
	if isRequest {
		p := &pending{id: env.ID, method: env.Method, cancel: cancel, modern: modern, token: env.progressToken()}
		b.mu.Lock()
		if old := b.inflight[idKey(env.ID)]; old != nil && old.own {
			p.own = true
		}
		b.inflight[idKey(env.ID)] = p
		if p.token != "" {
			b.tokens[p.token] = p
		}
		b.mu.Unlock()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.URL, bytes.NewReader(line))
	if err != nil {
		cancel()
		b.fail(fmt.Errorf("bridge: %w", err))
		return
	}
	b.header(req.Header, env, modern)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	// The next line goes out once this one is written, so that the server
	// gets messages in the client's order; after initialize, once its
	// answer (with the session id the next ones carry) is passed on.
	initialize := env.Method == string(mcp.MethodInitialize)
	wrote := make(chan struct{})
	var once sync.Once
	sent := func() { once.Do(func() { close(wrote) }) }
	if !initialize {
		req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { sent() },
		}))
	}

	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer cancel()
		defer sent()
		resp, err := b.cfg.Client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				b.fail(fmt.Errorf("%s stopped answering: %w", b.cfg.Server, err))
			}
			return
		}
		defer resp.Body.Close()
		if initialize && resp.StatusCode == http.StatusOK {
			if id := resp.Header.Get(mcpserver.HeaderKeySessionID); id != "" {
				b.mu.Lock()
				b.session = id
				b.mu.Unlock()
			}
		}
		b.answer(ctx, env, resp)
	}()
	select {
	case <-wrote:
	case <-b.ctx.Done():
	}
}

// ping sends the bridge's own ping on an idle 2025-11-25 session. Its
// answer is dropped; anything else that comes on its stream (queued
// notifications) goes to the client as usual.
func (b *bridge) ping() {
	b.mu.Lock()
	idle := b.session != "" && len(b.inflight) == 0 && b.goneErr == nil
	b.pings++
	id := fmt.Sprintf(`"voicedock-bridge-keepalive-%d"`, b.pings)
	if idle {
		b.inflight[idKey(json.RawMessage(id))] = &pending{id: json.RawMessage(id), method: string(mcp.MethodPing), cancel: func() {}, own: true}
	}
	b.mu.Unlock()
	if !idle {
		return
	}
	b.send([]byte(`{"jsonrpc":"2.0","id":` + id + `,"method":"ping"}`))
}

// header sets the session and protocol headers for a message.
func (b *bridge) header(h http.Header, env envelope, modern bool) {
	for k, v := range b.cfg.Header {
		h[k] = v
	}
	if modern {
		version := env.metaVersion()
		h.Set(mcp.HeaderProtocolVersion, version)
		for k, v := range mcp.StandardHeaders(version, mcp.MCPMethod(env.Method), env.Params) {
			h.Set(k, v)
		}
		if env.Method == string(mcp.MethodToolsCall) {
			var call struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(env.Params, &call)
			b.mu.Lock()
			tool := b.tools[call.Name]
			b.mu.Unlock()
			for k, v := range mcp.GenerateParamHeaders(tool, env.Params) {
				h.Set(k, v)
			}
		}
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.session != "" && env.Method != string(mcp.MethodInitialize) {
		h.Set(mcpserver.HeaderKeySessionID, b.session)
	}
	if b.version != "" {
		h.Set(mcp.HeaderProtocolVersion, b.version)
	}
}

// cancelModern ends the stream of a 2026-07-28 request named by a
// notifications/cancelled, and reports whether it did.
func (b *bridge) cancelModern(params json.RawMessage) bool {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil || len(p.RequestID) == 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	pend := b.inflight[idKey(p.RequestID)]
	if pend == nil || !pend.modern {
		return false
	}
	b.done(p.RequestID)
	pend.cancel()
	return true
}
