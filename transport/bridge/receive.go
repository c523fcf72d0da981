package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
)

// answer forwards the server's answer to one POST.
func (b *bridge) answer(ctx context.Context, env envelope, resp *http.Response) {
	if resp.StatusCode == http.StatusAccepted {
		return
	}
	if resp.StatusCode == http.StatusNotFound && !modernRequest(resp.Request) && b.hasSession() {
		b.fail(fmt.Errorf("%s no longer knows this session (it restarted or ended it)", b.cfg.Server))
		return
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mediaType == "text/event-stream":
		_, err := readSSE(resp.Body, func(_, data string) { b.receive(env, []byte(data)) })
		if err != nil && ctx.Err() == nil {
			b.fail(fmt.Errorf("%s stopped answering: %w", b.cfg.Server, err))
			return
		}
	case mediaType == "application/json":
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			if ctx.Err() == nil {
				b.fail(fmt.Errorf("%s stopped answering: %w", b.cfg.Server, err))
			}
			return
		}
		if resp.StatusCode != http.StatusOK && (!isJSONRPC(body) || !env.isRequest()) {
			// Over stdio nothing answers a notification or a response:
			// the server's complaint about one is for the log.
			b.refused(env, resp.StatusCode, body)
			return
		}
		if resp.StatusCode != http.StatusOK {
			body = withID(body, env)
		}
		b.receive(env, body)
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		b.refused(env, resp.StatusCode, body)
		return
	}
	if env.hasID() && env.Method != "" {
		// The answer's stream ended without the response: the server cut
		// it (a 2025-11-25 server may, to be polled; this one does not).
		b.mu.Lock()
		p, open := b.inflight[idKey(env.ID)]
		b.mu.Unlock()
		if open && ctx.Err() == nil {
			b.reply(p, GoneCode, fmt.Sprintf("%s ended the request's stream without an answer", b.cfg.Server))
		}
	}
}

func modernRequest(r *http.Request) bool {
	return r != nil && mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion))
}

// receive writes a message from the server to the client, noting what the
// bridge needs: answered requests, the negotiated version, tool
// definitions.
func (b *bridge) receive(sent envelope, msg []byte) {
	msg = bytes.TrimSpace(msg)
	if len(msg) == 0 {
		return
	}
	var env envelope
	_ = json.Unmarshal(msg, &env)
	b.mu.Lock()
	if b.goneErr != nil {
		b.mu.Unlock()
		return
	}
	if env.Method == string(mcp.MethodNotificationProgress) && !b.forward(env) {
		b.mu.Unlock()
		return
	}
	startListen := false
	if env.Method == "" && env.hasID() {
		if p := b.done(env.ID); p != nil {
			if p.own {
				b.mu.Unlock()
				return
			}
			switch p.method {
			case string(mcp.MethodInitialize):
				var r struct {
					ProtocolVersion string `json:"protocolVersion"`
				}
				if json.Unmarshal(env.Result, &r) == nil && r.ProtocolVersion != "" {
					b.version = r.ProtocolVersion
				}
			case string(mcp.MethodToolsList):
				b.noteTools(env.Result)
			case string(mcp.MethodResourcesSubscribe), string(mcp.MethodSetLogLevel):
				startListen = len(env.Result) > 0 && !b.listen && b.session != "" && !p.modern
				b.listen = b.listen || startListen
			}
		}
	}
	b.write(msg)
	b.mu.Unlock()
	if startListen {
		b.wg.Add(1)
		go b.listenStream()
	}
}

// done forgets an answered request and returns it, or nil; b.mu is held.
func (b *bridge) done(id json.RawMessage) *pending {
	key := idKey(id)
	p := b.inflight[key]
	if p == nil {
		return nil
	}
	delete(b.inflight, key)
	if p.token != "" && b.tokens[p.token] == p {
		delete(b.tokens, p.token)
	}
	return p
}

// forward reports whether a progress notification moves its request's
// progress forward (see the package documentation), and records it; b.mu is held.
func (b *bridge) forward(env envelope) bool {
	var n struct {
		ProgressToken json.RawMessage `json:"progressToken"`
		Progress      float64         `json:"progress"`
	}
	if json.Unmarshal(env.Params, &n) != nil {
		return true
	}
	p := b.tokens[idKey(n.ProgressToken)]
	if p == nil {
		return true
	}
	if n.Progress <= p.progress {
		b.logger.Debug("bridge: progress notification overtaken by a later one, left out", "progress", n.Progress, "last", p.progress)
		return false
	}
	p.progress = n.Progress
	return true
}

// write writes one message line; b.mu is held.
func (b *bridge) write(msg []byte) {
	var buf bytes.Buffer
	if json.Compact(&buf, msg) != nil {
		buf.Reset()
		buf.Write(bytes.ReplaceAll(msg, []byte("\n"), nil))
	}
	buf.WriteByte('\n')
	if _, err := b.out.Write(buf.Bytes()); err != nil {
		b.logger.Debug("bridge: write to client", "err", err)
	}
}

func (b *bridge) noteTools(result json.RawMessage) {
	var r mcp.ListToolsResult
	if json.Unmarshal(result, &r) != nil {
		return
	}
	for i := range r.Tools {
		if len(mcp.ExtractParamHeaderBindings(&r.Tools[i])) > 0 {
			b.tools[r.Tools[i].Name] = &r.Tools[i]
		}
	}
}
