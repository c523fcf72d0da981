package transport

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// BridgeConfig says where Bridge forwards to.
type BridgeConfig struct {
	// URL is the server's MCP endpoint, e.g. http://localhost/mcp.
	URL string
	// Client does the HTTP; nil is a client without timeouts (streams
	// last as long as the session). UnixClient reaches a Unix socket.
	Client *http.Client
	// Header is added to every request (Authorization for a remote server).
	Header http.Header
	// Server names the server in messages, e.g. "the voicedock server
	// owning /var/lib/voicedock".
	Server string

	// Gone, if not nil, is closed when the server is known to have gone
	// (the owner of a data directory let its lock go): the bridge ends as
	// when a request finds it gone.
	Gone <-chan struct{}

	// keepAlive is the idle time before a keep-alive ping; 0 is
	// bridgeKeepAlive (tests shorten it).
	keepAlive time.Duration
}

// UnixClient returns an HTTP client that connects to the Unix socket at
// path whatever the URL's host.
func UnixClient(path string) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 16,
		DisableCompression:  true,
	}}
}

// bridgeKeepAlive is how often an idle bridge pings the server, so that a
// 2025-11-25 session is not ended as idle (HTTPConfig.SessionIdleTTL,
// an hour by default) while the client sits unused.
const bridgeKeepAlive = 5 * time.Minute

// BridgeGoneCode is the JSON-RPC error code a bridge answers requests in
// flight with when the server stops answering (-32000 is the first of the
// codes JSON-RPC leaves to implementations).
const BridgeGoneCode = -32000

// Bridge connects a stdio MCP client (in: one JSON-RPC message a line, out:
// the same) to a streamable HTTP MCP server, until in ends (nil) or the
// server stops answering (an error saying so).
//
// It is a JSON-RPC level proxy, not an MCP implementation: every message
// goes through unchanged, in both directions, whatever its method, so
// progress notifications, resource updates, log messages, cancellations,
// server requests (elicitation, ping) and their answers all pass. It only
// does what the HTTP transport asks of a client: it POSTs each line, keeps
// the Mcp-Session-Id the initialize answer brings, sends the
// Mcp-Protocol-Version negotiated (or, on 2026-07-28 and later, the one in
// the message's _meta, with the Mcp-Method and Mcp-Name headers), reads
// answers as JSON or as an event stream, holds the GET stream open for
// server-initiated messages of a session once the client asks for them,
// and ends the session with DELETE.
//
// The GET stream costs something: mcp-go hands each notification of a
// 2025-11-25 session to whichever of the session's streams reads first, so
// with the GET stream open a request's progress notifications are split
// between it and the request's own stream, and can arrive out of order. So
// the bridge opens it only once the client has asked for messages outside
// its requests (resources/subscribe, logging/setLevel), and it passes a
// progress notification only if it moves its request's progress forward
// (MCP requires progress to increase): a step overtaken by a later one is
// left out. Until then unsolicited messages (list changes) come with the
// next request's answer. 2026-07-28 has no such sharing: each request's
// notifications come on its own stream, subscriptions on theirs.
//
// mcp-go's client transport is not used: it decodes and re-encodes every
// message into its own types, and answers server requests itself.
//
// When the server goes (connection refused or cut, session unknown), each
// request still in flight is answered with a JSON-RPC error
// (BridgeGoneCode) and Bridge returns.
func Bridge(ctx context.Context, cfg BridgeConfig, in io.Reader, out io.Writer, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Server == "" {
		cfg.Server = "the MCP server at " + cfg.URL
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &bridge{
		cfg:      cfg,
		logger:   logger,
		ctx:      ctx,
		out:      out,
		inflight: map[string]*pending{},
		tokens:   map[string]*pending{},
		tools:    map[string]*mcp.Tool{},
		gone:     make(chan struct{}),
	}
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				select {
				case lines <- line:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readErr <- err
				return
			}
		}
	}()

	interval := cmp.Or(cfg.keepAlive, bridgeKeepAlive)
	keepAlive := time.NewTicker(interval)
	defer keepAlive.Stop()
	var result error
loop:
	for {
		select {
		case line := <-lines:
			b.send(line)
			keepAlive.Reset(interval)
		case <-keepAlive.C:
			b.ping()
		case <-cfg.Gone:
			b.fail(fmt.Errorf("%s has exited", cfg.Server))
		case err := <-readErr:
			if err != nil {
				result = fmt.Errorf("bridge: read stdin: %w", err)
			}
			logger.Info("bridge: client closed its input")
			break loop
		case <-b.gone:
			result = b.goneErr
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	cancel()
	b.wg.Wait()
	b.endSession()
	if result == nil {
		// The server may have gone while the last requests ended.
		select {
		case <-b.gone:
			result = b.goneErr
		default:
		}
	}
	return result
}

type bridge struct {
	cfg    BridgeConfig
	logger *slog.Logger
	ctx    context.Context
	wg     sync.WaitGroup

	mu       sync.Mutex // guards what follows, and out
	out      io.Writer
	session  string
	version  string // negotiated by initialize (legacy protocol)
	listen   bool   // the GET stream is running
	pings    int    // keep-alive pings sent
	inflight map[string]*pending
	tokens   map[string]*pending  // in-flight requests by progress token
	tools    map[string]*mcp.Tool // for Mcp-Param-* headers (2026-07-28)
	gone     chan struct{}
	goneErr  error
}

// pending is a request sent on and not answered yet.
type pending struct {
	id     json.RawMessage
	method string
	cancel context.CancelFunc
	modern bool
	// token is the request's progress token (idKey form), or "".
	token string
	// progress is the last progress value passed to the client.
	progress float64
	// own marks the bridge's own requests (keep-alive pings): their
	// answers are not the client's.
	own bool
}

// envelope is what the bridge reads of a message.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
}

func (e envelope) hasID() bool {
	return len(e.ID) > 0 && string(e.ID) != "null"
}

func (e envelope) isRequest() bool { return e.Method != "" && e.hasID() }

// progressToken returns the idKey of the request's progress token, or "".
func (e envelope) progressToken() string {
	var p struct {
		Meta struct {
			ProgressToken json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	if json.Unmarshal(e.Params, &p) != nil || len(p.Meta.ProgressToken) == 0 || string(p.Meta.ProgressToken) == "null" {
		return ""
	}
	return idKey(p.Meta.ProgressToken)
}

func (e envelope) metaVersion() string {
	var p struct {
		Meta *mcp.Meta `json:"_meta"`
	}
	if json.Unmarshal(e.Params, &p) != nil {
		return ""
	}
	return p.Meta.ProtocolVersion()
}

// idKey is the map key of a JSON-RPC id: its compact JSON, so that 1 and
// "1" stay apart.
func idKey(id json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, id) != nil {
		return string(id)
	}
	return buf.String()
}

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
			if id := resp.Header.Get(server.HeaderKeySessionID); id != "" {
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
		h.Set(server.HeaderKeySessionID, b.session)
	}
	if b.version != "" {
		h.Set(mcp.HeaderProtocolVersion, b.version)
	}
}

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
			b.reply(p, BridgeGoneCode, fmt.Sprintf("%s ended the request's stream without an answer", b.cfg.Server))
		}
	}
}

func modernRequest(r *http.Request) bool {
	return r != nil && mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion))
}

func (b *bridge) hasSession() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.session != ""
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
// progress forward (see Bridge), and records it; b.mu is held.
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

// reply answers a pending request with a JSON-RPC error.
func (b *bridge) reply(p *pending, code int, message string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.goneErr != nil || b.done(p.id) == nil || p.own {
		return
	}
	b.write(errorMessage(p.id, code, message))
}

// refused answers a message the server refused with an HTTP error that is
// not JSON-RPC (401 with a bad key, 403, 429, a proxy's page).
func (b *bridge) refused(env envelope, status int, body []byte) {
	msg := fmt.Sprintf("%s refused the message: HTTP %d", b.cfg.Server, status)
	var apiErr struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &apiErr) == nil && apiErr.Error.Message != "" {
		msg += ": " + apiErr.Error.Message
	} else if text := strings.TrimSpace(string(body)); text != "" && len(text) < 200 {
		msg += ": " + text
	}
	if !env.isRequest() {
		b.logger.Warn("bridge: "+msg, "method", env.Method)
		return
	}
	b.mu.Lock()
	p := b.inflight[idKey(env.ID)]
	b.mu.Unlock()
	if p != nil {
		b.reply(p, BridgeGoneCode, msg)
	}
}

// fail records that the server is gone: every request in flight gets an
// error, and Bridge returns err.
func (b *bridge) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.goneErr != nil {
		return
	}
	for _, p := range b.inflight {
		if !p.own {
			b.write(errorMessage(p.id, BridgeGoneCode, err.Error()))
		}
		b.done(p.id)
	}
	b.goneErr = err
	close(b.gone)
}

// listenStream holds the session's GET stream open and forwards what comes
// on it: notifications and server requests not tied to a client request
// (resource updates, list changes, pings). It reconnects after a cut,
// resuming after the last event; a server that refuses it ends the bridge.
func (b *bridge) listenStream() {
	defer b.wg.Done()
	lastEvent := ""
	// empty counts streams in a row that ended without an event: a server
	// that keeps cutting the stream at once is not served by reconnecting.
	empty := 0
	for b.ctx.Err() == nil {
		req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.cfg.URL, nil)
		if err != nil {
			b.fail(fmt.Errorf("bridge: %w", err))
			return
		}
		b.header(req.Header, envelope{}, false)
		req.Header.Set("Accept", "text/event-stream")
		if lastEvent != "" {
			req.Header.Set("Last-Event-ID", lastEvent)
		}
		resp, err := b.cfg.Client.Do(req)
		if err != nil {
			if b.ctx.Err() == nil {
				b.fail(fmt.Errorf("%s stopped answering: %w", b.cfg.Server, err))
			}
			return
		}
		switch {
		case resp.StatusCode == http.StatusMethodNotAllowed:
			// The server offers no GET stream; its messages come on POSTs.
			resp.Body.Close()
			return
		case resp.StatusCode == http.StatusNotFound:
			resp.Body.Close()
			b.fail(fmt.Errorf("%s ended this session (it is shutting down or restarted)", b.cfg.Server))
			return
		case resp.StatusCode == http.StatusBadRequest && lastEvent != "":
			// The server lost the events to resume from: start afresh.
			resp.Body.Close()
			lastEvent = ""
			continue
		case resp.StatusCode != http.StatusOK:
			resp.Body.Close()
			b.fail(fmt.Errorf("%s refused the event stream: HTTP %d", b.cfg.Server, resp.StatusCode))
			return
		}
		events := 0
		last, err := readSSE(resp.Body, func(_, data string) {
			events++
			b.receive(envelope{}, []byte(data))
		})
		resp.Body.Close()
		if last != "" {
			lastEvent = last
		}
		if b.ctx.Err() != nil {
			return
		}
		if events == 0 {
			empty++
		} else {
			empty = 0
		}
		if empty >= 3 {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			b.fail(fmt.Errorf("%s keeps closing the event stream: %w", b.cfg.Server, err))
			return
		}
		// The stream ended (the server closed it, or it was cut):
		// reconnect; a server that is gone refuses the connection or the
		// session, and that ends the bridge.
	}
}

// endSession ends the session with DELETE, as a closing client does.
func (b *bridge) endSession() {
	b.mu.Lock()
	session, version, gone := b.session, b.version, b.goneErr != nil
	b.mu.Unlock()
	if session == "" || gone {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, b.cfg.URL, nil)
	if err != nil {
		return
	}
	for k, v := range b.cfg.Header {
		req.Header[k] = v
	}
	req.Header.Set(server.HeaderKeySessionID, session)
	if version != "" {
		req.Header.Set(mcp.HeaderProtocolVersion, version)
	}
	resp, err := b.cfg.Client.Do(req)
	if err != nil {
		b.logger.Debug("bridge: end session", "err", err)
		return
	}
	resp.Body.Close()
}

func errorMessage(id json.RawMessage, code int, message string) []byte {
	b, _ := json.Marshal(map[string]any{
		"jsonrpc": mcp.JSONRPC_VERSION,
		"id":      id,
		"error":   map[string]any{"code": code, "message": message},
	})
	return b
}

// isJSONRPC reports whether body is a JSON-RPC message.
func isJSONRPC(body []byte) bool {
	var m struct {
		JSONRPC string `json:"jsonrpc"`
	}
	return json.Unmarshal(body, &m) == nil && m.JSONRPC == mcp.JSONRPC_VERSION
}

// withID gives a transport-level JSON-RPC error (id null) the id of the
// request it answers, so that the client can match it.
func withID(body []byte, sent envelope) []byte {
	if !sent.hasID() || sent.Method == "" {
		return body
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	if id, ok := m["id"]; ok && string(id) != "null" {
		return body
	}
	m["id"] = sent.ID
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}
