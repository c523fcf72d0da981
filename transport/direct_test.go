package transport

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/server"
	"github.com/voicedock/voicedock/store/sqlite"
	"github.com/voicedock/voicedock/tools"
)

// directPair is one MCP server (real tools over a real store) behind two
// HTTP handlers: one serving the read tools directly, one leaving
// everything to mcp-go.
type directPair struct {
	direct, viaMCPGo *HTTPHandler
	callID           string
	// escapedID is a call whose text needs escaping: quotes, HTML
	// characters, U+2028, spaces and non-ASCII.
	escapedID string
}

func newDirectPair(t *testing.T) *directPair {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vd.db"), make([]byte, 32), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	call := core.Call{ID: "01a20f03-ddbd-79af-b42f-9d7172ae592a", Direction: core.DirectionInbound, Status: core.CallEnded,
		CallerPhone: "+31611122233", AgentPhone: "+31850835037", StartedAt: &now, EndedAt: &now,
		EndReason: "customer-ended-call", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateCall(ctx, call); err != nil {
		t.Fatal(err)
	}
	escaped := call
	escaped.ID = "01a20f03-ddbd-79af-b42f-9d7172ae5930"
	escaped.Status, escaped.EndReason = core.CallFailed, "failed"
	escaped.Error = "trunk said \"<busy> & gone\"\u2028\u2029 \tné 🙂 \\ /"
	escaped.FirstMessage = "Hello, <b>caller</b> & welcome"
	escaped.CallerPhone = "Anonymous <sip:anon&co@example.invalid>\u2028" // in the summary text
	if err := st.CreateCall(ctx, escaped); err != nil {
		t.Fatal(err)
	}
	svc := core.NewConfiguration(st, logger)
	calls := core.NewCalls(ctx, core.CallsConfig{}, st, st, core.NewBus(), logger)
	list := tools.All(tools.Deps{Config: svc, Calls: calls, Deliveries: core.NewDeliveries(st, func() {})})
	srv, err := server.New(list, server.Options{Name: "voicedock", Version: "test", Logger: logger, Calls: calls, Config: svc, ValidateOutput: true})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(direct []string) *HTTPHandler {
		h, err := NewHTTPHandler(srv.MCP, HTTPConfig{RateLimitPerMinute: -1, WriteTools: server.WriteTools(list), DirectTools: direct, Keys: testKeys}, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close(context.Background()) })
		// A still clock: every request is within directRefresh of the
		// last one mcp-go served, however slow the machine.
		still := time.Now()
		h.sessions.now = func() time.Time { return still }
		return h
	}
	return &directPair{direct: mk(server.DirectTools(list)), viaMCPGo: mk(nil), callID: call.ID, escapedID: escaped.ID}
}

// directPost posts body to h on session (none: "") with key, as a client
// on loopback does.
func directPost(h *HTTPHandler, session, key, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+MCPPath, strings.NewReader(body))
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		r.Header.Set(mcpserver.HeaderKeySessionID, session)
		r.Header.Set(mcp.HeaderProtocolVersion, legacyVersion)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// modernVersion is the sessionless era's protocol version.
const modernVersion = mcp.ProtocolVersion20260728

// directPostModern posts body as a sessionless (2026-07-28) request, with
// the standard headers naming tool (none: "").
func directPostModern(h *HTTPHandler, key, tool, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+MCPPath, strings.NewReader(body))
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	r.Header.Set(mcp.HeaderProtocolVersion, modernVersion)
	if tool != "" {
		r.Header.Set(mcp.HeaderMethod, string(mcp.MethodToolsCall))
		r.Header.Set(mcp.HeaderName, tool)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// modernMeta is the _meta a sessionless request carries.
const modernMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"` + modernVersion +
	`","io.modelcontextprotocol/clientInfo":{"name":"test","version":"1"},"io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}`

// directSessionOf opens an initialized session on h with key.
func directSessionOf(t *testing.T, h *HTTPHandler, key string) string {
	t.Helper()
	init := directPost(h, "", key, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+legacyVersion+`","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}`)
	session := init.Header().Get(mcpserver.HeaderKeySessionID)
	if init.Code != http.StatusOK || session == "" {
		t.Fatalf("initialize: %d %s", init.Code, init.Body)
	}
	if w := directPost(h, session, key, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); w.Code/100 != 2 {
		t.Fatalf("initialized: %d %s", w.Code, w.Body)
	}
	return session
}

// A direct read answers exactly what mcp-go answers: status, headers and
// body, byte for byte, for a success and every error shape a call of a
// direct tool can get, with a write key and a read key; and it is the
// direct path that answered.
func TestDirectReadsMatchMCPGo(t *testing.T) {
	p := newDirectPair(t)
	call := func(id, name, args string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + name + `","arguments":` + args + `}}`
	}
	cases := []struct{ name, body string }{
		{"get_call found", call("7", "get_call", `{"id":"`+p.callID+`"}`)},
		{"get_call with text to escape", call("6", "get_call", `{"id":"`+p.escapedID+`"}`)},
		{"string request id", call(`"req-<&>"`, "get_call", `{"id":"`+p.callID+`"}`)},
		{"large request id", call("9007199254740993", "get_call", `{"id":"`+p.callID+`"}`)},
		{"fractional request id", call("1.5", "get_call", `{"id":"`+p.callID+`"}`)},
		{"get_call not found", call("8", "get_call", `{"id":"no-such-call"}`)},
		{"missing argument", call("9", "get_call", `{}`)},
		{"argument of the wrong type", call("10", "get_call", `{"id":5}`)},
		{"unknown argument", call("11", "get_call", `{"id":"`+p.callID+`","extra":true}`)},
		{"arguments not an object", call("12", "get_call", `"x"`)},
		{"arguments null", call("13", "get_call", `null`)},
		{"list_calls", call("14", "list_calls", `{}`)},
		{"list_calls bad status", call("15", "list_calls", `{"status":"nonsense"}`)},
		{"list_calls bad page", call("16", "list_calls", `{"page":{"limit":-4}}`)},
		{"wrong jsonrpc version", `{"jsonrpc":"1.0","id":17,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"}}}`},
		{"no jsonrpc member", `{"id":18,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"}}}`},
		{"member name in another case", `{"jsonrpc":"2.0","id":19,"Method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"}}}`},
		{"unknown member", `{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"}},"extra":1}`},
		{"params of the wrong type", `{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"},"extra":[1]}}`},
		{"escaped tool name", `{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"get\u005fcall","arguments":{"id":"` + p.callID + `"}}}`},
		{"whitespace and escapes", "{\"jsonrpc\" : \"2.0\", \"id\" : 22 ,\n \"method\":\"tools\\/call\", \"params\":{\"name\":\"get_call\",\"arguments\":{\"id\":\"\\u0030\"}}} "},
	}
	// The same calls in the sessionless era, and its own error shapes.
	for _, key := range []string{writeKey, readKey} {
		modern := func(id, name, args string) string {
			return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + name + `","arguments":` + args + `,` + modernMeta + `}}`
		}
		for _, tc := range []struct{ name, tool, body string }{
			{"get_call found", "get_call", modern("7", "get_call", `{"id":"`+p.callID+`"}`)},
			{"get_call with text to escape", "get_call", modern("6", "get_call", `{"id":"`+p.escapedID+`"}`)},
			{"string request id", "get_call", modern(`"req-<&>\u2028"`, "get_call", `{"id":"`+p.callID+`"}`)},
			{"get_call not found", "get_call", modern("8", "get_call", `{"id":"no-such-call"}`)},
			{"missing argument", "get_call", modern("9", "get_call", `{}`)},
			{"arguments not an object", "get_call", modern("12", "get_call", `"x"`)},
			{"list_calls", "list_calls", modern("14", "list_calls", `{}`)},
			{"wrong jsonrpc version", "get_call", `{"jsonrpc":"1.0","id":17,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"},` + modernMeta + `}}`},
			{"unknown member", "get_call", `{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"},` + modernMeta + `},"extra":1}`},
			{"client info of the wrong type", "get_call", `{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"},"_meta":{"io.modelcontextprotocol/protocolVersion":"` + modernVersion + `","io.modelcontextprotocol/clientInfo":5}}}`},
		} {
			before := p.direct.direct.served.Load()
			got := directPostModern(p.direct, key, tc.tool, tc.body)
			if p.direct.direct.served.Load() != before+1 {
				t.Errorf("sessionless %s: not served directly", tc.name)
			}
			want := directPostModern(p.viaMCPGo, key, tc.tool, tc.body)
			if got.Code != want.Code || got.Body.String() != want.Body.String() {
				t.Errorf("sessionless %s (key %s):\ndirect %d %s\nmcp-go %d %s", tc.name, key[:4], got.Code, got.Body, want.Code, want.Body)
			}
			if g, w := got.Header(), want.Header(); len(g) != len(w) || g.Get("Content-Type") != w.Get("Content-Type") {
				t.Errorf("sessionless %s: headers direct %v, mcp-go %v", tc.name, g, w)
			}
		}
	}

	for _, key := range []string{writeKey, readKey} {
		directSession := directSessionOf(t, p.direct, key)
		mcpGoSession := directSessionOf(t, p.viaMCPGo, key)
		for _, tc := range cases {
			before := p.direct.direct.served.Load()
			got := directPost(p.direct, directSession, key, tc.body)
			if p.direct.direct.served.Load() != before+1 {
				t.Errorf("%s: not served directly", tc.name)
			}
			want := directPost(p.viaMCPGo, mcpGoSession, key, tc.body)
			if got.Code != want.Code || got.Body.String() != want.Body.String() {
				t.Errorf("%s (key %s):\ndirect %d %s\nmcp-go %d %s", tc.name, key[:4], got.Code, got.Body, want.Code, want.Body)
			}
			if g, w := got.Header(), want.Header(); len(g) != len(w) || g.Get("Content-Type") != w.Get("Content-Type") {
				t.Errorf("%s: headers direct %v, mcp-go %v", tc.name, g, w)
			}
		}
	}
}

// What a direct read cannot answer as mcp-go would goes to mcp-go: other
// methods and tools, progress requests, batches, other protocol
// versions, unknown sessions, and a session mcp-go has not seen a request
// of for directRefresh (its idle clock and queued notifications).
func TestDirectReadsLeaveTheRestToMCPGo(t *testing.T) {
	p := newDirectPair(t)
	h := p.direct
	session := directSessionOf(t, h, writeKey)
	get := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"` + p.callID + `"}}}`
	for name, body := range map[string]string{
		"tools/list":      `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		"a writing tool":  `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"end_call","arguments":{"id":"` + p.callID + `"}}}`,
		"progress token":  `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"},"_meta":{"progressToken":1}}}`,
		"a batch":         `[` + get + `]`,
		"a notification":  `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"}}}`,
		"a null id":       `{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"}}}`,
		"not json":        `{"jsonrpc":`,
		"a client result": `{"jsonrpc":"2.0","id":6,"result":{},"method":"tools/call","params":{"name":"get_call"}}`,
	} {
		before := h.direct.served.Load()
		directPost(h, session, writeKey, body)
		if h.direct.served.Load() != before {
			t.Errorf("%s: served directly", name)
		}
	}

	served := func(session, version string) bool {
		before := h.direct.served.Load()
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+MCPPath, strings.NewReader(get))
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Authorization", "Bearer "+writeKey)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(mcpserver.HeaderKeySessionID, session)
		if version != "" {
			r.Header.Set(mcp.HeaderProtocolVersion, version)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		return h.direct.served.Load() == before+1
	}
	if !served(session, legacyVersion) {
		t.Fatal("get_call on a live session was not served directly")
	}
	if served(session, "") || served(session, "2026-07-28") || served(session, "1999-01-01") {
		t.Error("served directly without the session era's protocol version header")
	}
	modernGet := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"x"},` + modernMeta + `}}`
	for name, w := range map[string]func() *httptest.ResponseRecorder{
		"sessionless without Mcp-Method and Mcp-Name": func() *httptest.ResponseRecorder { return directPostModern(h, writeKey, "", modernGet) },
		"sessionless naming another tool":             func() *httptest.ResponseRecorder { return directPostModern(h, writeKey, "list_calls", modernGet) },
		"sessionless without the version in _meta": func() *httptest.ResponseRecorder {
			return directPostModern(h, writeKey, "get_call", get)
		},
	} {
		before := h.direct.served.Load()
		if res := w(); res.Code != http.StatusBadRequest || h.direct.served.Load() != before {
			t.Errorf("%s: %d %s, served directly %v", name, res.Code, res.Body, h.direct.served.Load() != before)
		}
	}
	if served("vd-unknown", legacyVersion) {
		t.Error("served directly on an unknown session")
	}

	// Past directRefresh, one request goes through mcp-go, and the next is
	// direct again.
	later := time.Now().Add(time.Hour)
	h.sessions.now = func() time.Time { return later }
	if served(session, legacyVersion) {
		t.Error("served directly although mcp-go saw no request of the session for an hour")
	}
	if !served(session, legacyVersion) {
		t.Error("not served directly after mcp-go served one")
	}

	// An ended session is mcp-go's (and the guard's) to refuse.
	del := httptest.NewRequest(http.MethodDelete, "http://127.0.0.1:8080"+MCPPath, nil)
	del.RemoteAddr = "127.0.0.1:40000"
	del.Header.Set("Authorization", "Bearer "+writeKey)
	del.Header.Set(mcpserver.HeaderKeySessionID, session)
	del.Header.Set(mcp.HeaderProtocolVersion, legacyVersion)
	h.ServeHTTP(httptest.NewRecorder(), del)
	if served(session, legacyVersion) {
		t.Error("served directly on an ended session")
	}
}
