package transport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// The mcp-go client over both protocol eras: the session-based one
// (initialize, Mcp-Session-Id) and the sessionless 2026-07-28 one that the
// client prefers by default.
func TestHTTPClientRoundTrip(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{Keys: testKeys})
	for _, tc := range []struct {
		name, version string
		wantSession   bool
	}{
		{"session-era", legacyVersion, true},
		{"sessionless-era", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, res, err := newHTTPClient(t, ts.url, writeKey, tc.version)
			if err != nil {
				t.Fatalf("initialize: %v", err)
			}
			if res.ServerInfo.Name != "voicedock-test" {
				t.Errorf("server name = %q", res.ServerInfo.Name)
			}
			if got := c.GetSessionId() != ""; got != tc.wantSession {
				t.Errorf("session id %q, want one: %v (protocol %s)", c.GetSessionId(), tc.wantSession, c.ProtocolVersion())
			}
			if names := listTools(t, c); !slices.Equal(names, []string{"echo"}) {
				t.Errorf("tools = %v", names)
			}
			msg, who := callEcho(t, c, "hello")
			if msg != "hello" || who != "ops/write/http" {
				t.Errorf("echo = %q, %q", msg, who)
			}
		})
	}
}

func TestHTTPReadKeyCaller(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{Keys: testKeys})
	c, _, err := newHTTPClient(t, ts.url, readKey, legacyVersion)
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	if _, who := callEcho(t, c, "x"); who != "viewer/read/http" {
		t.Errorf("caller = %q", who)
	}
}

func TestHTTPAnonymousOnLoopback(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{})
	c, _, err := newHTTPClient(t, ts.url, "", legacyVersion)
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	if _, who := callEcho(t, c, "x"); who != "anonymous/write/http" {
		t.Errorf("caller = %q", who)
	}
}

func TestHTTPUnauthorized(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{Keys: testKeys})
	cases := map[string]map[string]string{
		"no header":    nil,
		"wrong key":    bearer("not-the-key-0123456789"),
		"prefix":       bearer(writeKey[:len(writeKey)-1]),
		"basic scheme": {"Authorization": "Basic " + writeKey},
		"bare key":     {"Authorization": writeKey},
	}
	for name, h := range cases {
		for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
			var body any
			if method == http.MethodPost {
				body = initializeBody(legacyVersion)
			}
			r := do(t, method, ts.url, h, body)
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s %s: status %d, want 401", name, method, r.status)
				continue
			}
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="voicedock"` {
				t.Errorf("%s: WWW-Authenticate = %q", name, got)
			}
			if code, msg := apiError(t, r); code != "unauthorized" || msg != "Invalid or missing API key" {
				t.Errorf("%s: error = %q %q", name, code, msg)
			}
			if want := `{"error":{"code":"unauthorized","message":"Invalid or missing API key"}}`; strings.TrimSpace(string(r.body)) != want {
				t.Errorf("%s: body = %s", name, r.body)
			}
		}
	}

	// The real client fails too, and no session is created.
	if _, _, err := newHTTPClient(t, ts.url, "", legacyVersion); err == nil {
		t.Error("client without key initialized")
	}
	if _, _, err := newHTTPClient(t, ts.url, "wrong-key-0123456789", ""); err == nil {
		t.Error("client with wrong key initialized")
	}
}

func TestHTTPHealthz(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{Keys: testKeys})
	r := do(t, http.MethodGet, ts.base+HealthzPath, nil, nil)
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"status":"ok"}` {
		t.Errorf("healthz = %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("healthz Content-Type = %q", ct)
	}
	if r := do(t, http.MethodPost, ts.base+HealthzPath, nil, "{}"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST healthz = %d", r.status)
	}
	if r := do(t, http.MethodGet, ts.base+"/nope", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("GET /nope = %d", r.status)
	}
}

func TestHTTPOrigin(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{Keys: testKeys, AllowedOrigins: []string{"https://app.example.com"}})
	auth := bearer(writeKey)
	id := openSession(t, ts.url, auth)

	for _, origin := range []string{"https://evil.example.com", "null", "http://localhost.evil.com", "https://app.example.com:8443", "garbage"} {
		for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete, http.MethodPut} {
			h := sessionHeaders(auth, id)
			h["Origin"] = origin
			var body any
			if method == http.MethodPost {
				body = rpc(2, "tools/list", nil)
			}
			r := do(t, method, ts.url, h, body)
			if r.status != http.StatusForbidden {
				t.Errorf("Origin %q %s: status %d, want 403", origin, method, r.status)
				continue
			}
			if code, _ := apiError(t, r); code != "forbidden" {
				t.Errorf("Origin %q: code %q", origin, code)
			}
		}
	}
	// A foreign origin is refused before authentication, and on /healthz.
	if r := do(t, http.MethodPost, ts.url, map[string]string{"Origin": "https://evil.example.com"}, initializeBody(legacyVersion)); r.status != http.StatusForbidden {
		t.Errorf("unauthenticated foreign origin: %d", r.status)
	}
	if r := do(t, http.MethodGet, ts.base+HealthzPath, map[string]string{"Origin": "https://evil.example.com"}, nil); r.status != http.StatusForbidden {
		t.Errorf("healthz foreign origin: %d", r.status)
	}

	for _, origin := range []string{"https://app.example.com", "https://APP.example.com:443", "http://localhost:5173", "http://127.0.0.1", "https://[::1]:8443"} {
		h := sessionHeaders(auth, id)
		h["Origin"] = origin
		if r := do(t, http.MethodPost, ts.url, h, rpc(2, "tools/list", nil)); r.status != http.StatusOK {
			t.Errorf("allowed Origin %q: %d %s", origin, r.status, r.body)
		}
	}
}

// mcp-go's DNS-rebinding check stays on: a loopback connection with a
// foreign Host is refused even without Origin.
func TestHTTPDNSRebindingHost(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{})
	r := do(t, http.MethodPost, ts.url, map[string]string{"Host": "evil.example.com"}, initializeBody(legacyVersion))
	if r.status != http.StatusForbidden {
		t.Errorf("foreign Host: %d %s", r.status, r.body)
	}
	r = do(t, http.MethodPost, ts.url, map[string]string{"Host": "localhost:1234"}, initializeBody(legacyVersion))
	if r.status != http.StatusOK {
		t.Errorf("localhost Host: %d %s", r.status, r.body)
	}
}

func TestHTTPBodyLimit(t *testing.T) {
	const limit = 2048
	ts := startHTTP(t, HTTPConfig{Keys: testKeys, MaxBodyBytes: limit})
	auth := bearer(writeKey)
	id := openSession(t, ts.url, auth)
	big := rpc(2, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"message": strings.Repeat("x", limit)}})

	// Announced by Content-Length.
	r := do(t, http.MethodPost, ts.url, sessionHeaders(auth, id), big)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %s", r.status, r.body)
	}
	// Chunked, without Content-Length: the read itself is capped.
	r = do(t, http.MethodPost, ts.url, sessionHeaders(auth, id), io.MultiReader(strings.NewReader(big)))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked body: %d %s", r.status, r.body)
	}
	// Also for an initialize, before any session.
	r = do(t, http.MethodPost, ts.url, auth, strings.Repeat(" ", limit)+initializeBody(legacyVersion))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized initialize: %d", r.status)
	}
	// Just under the limit still works.
	small := rpc(3, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"message": strings.Repeat("y", limit-200)}})
	if r := do(t, http.MethodPost, ts.url, sessionHeaders(auth, id), small); r.status != http.StatusOK {
		t.Errorf("body under the limit: %d %s", r.status, r.body)
	}
}

func TestHTTPSessionRules(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{Keys: testKeys})
	auth := bearer(writeKey)
	withVersion := func(h map[string]string) map[string]string {
		out := map[string]string{mcp.HeaderProtocolVersion: legacyVersion}
		for k, v := range h {
			out[k] = v
		}
		return out
	}

	t.Run("missing session id is 400", func(t *testing.T) {
		for _, tc := range []struct {
			method string
			body   any
		}{
			{http.MethodPost, rpc(2, "tools/list", nil)},
			{http.MethodPost, rpc(0, "notifications/initialized", nil)},
			{http.MethodGet, nil},
			{http.MethodDelete, nil},
		} {
			r := do(t, tc.method, ts.url, withVersion(auth), tc.body)
			if r.status != http.StatusBadRequest {
				t.Errorf("%s %v: %d %s, want 400", tc.method, tc.body, r.status, r.body)
				continue
			}
			if _, msg := rpcError(t, r); !strings.Contains(msg, "Mcp-Session-Id") {
				t.Errorf("%s: message %q", tc.method, msg)
			}
		}
		// Without the protocol version header too (2025-03-26 clients).
		if r := do(t, http.MethodPost, ts.url, auth, rpc(2, "tools/list", nil)); r.status != http.StatusBadRequest {
			t.Errorf("POST without version header: %d", r.status)
		}
	})

	t.Run("unknown session id is 404", func(t *testing.T) {
		for _, sid := range []string{"vd-UNKNOWNUNKNOWNUNKNOWNUNKN", "mcp-session-" + "00000000-0000-4000-8000-000000000000", "garbage"} {
			for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
				var body any
				if method == http.MethodPost {
					body = rpc(2, "tools/list", nil)
				}
				r := do(t, method, ts.url, sessionHeaders(auth, sid), body)
				if r.status != http.StatusNotFound {
					t.Errorf("%s with session %q: %d %s, want 404", method, sid, r.status, r.body)
				}
			}
		}
	})

	t.Run("DELETE then reuse is 404", func(t *testing.T) {
		id := openSession(t, ts.url, auth)
		h := sessionHeaders(auth, id)
		if r := do(t, http.MethodPost, ts.url, h, rpc(2, "tools/list", nil)); r.status != http.StatusOK {
			t.Fatalf("tools/list in session: %d %s", r.status, r.body)
		}
		if r := do(t, http.MethodDelete, ts.url, h, nil); r.status != http.StatusOK {
			t.Fatalf("DELETE: %d %s", r.status, r.body)
		}
		for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
			var body any
			if method == http.MethodPost {
				body = rpc(3, "tools/list", nil)
			}
			if r := do(t, method, ts.url, h, body); r.status != http.StatusNotFound {
				t.Errorf("%s after DELETE: %d %s, want 404", method, r.status, r.body)
			}
		}
	})

	t.Run("sessionless era needs no session id", func(t *testing.T) {
		modern := mcp.ProtocolVersion20260728
		h := map[string]string{mcp.HeaderProtocolVersion: modern, "Mcp-Method": "tools/list"}
		for k, v := range auth {
			h[k] = v
		}
		body := rpc(2, "tools/list", map[string]any{"_meta": map[string]any{
			mcp.MetaKeyProtocolVersion:                   modern,
			"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "raw", "version": "1"},
			"io.modelcontextprotocol/clientCapabilities": map[string]any{},
		}})
		r := do(t, http.MethodPost, ts.url, h, body)
		if r.status == http.StatusBadRequest && strings.Contains(string(r.body), "Mcp-Session-Id") {
			t.Fatalf("sessionless request refused for lack of a session: %s", r.body)
		}
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `"echo"`) {
			t.Errorf("sessionless tools/list: %d %s", r.status, r.body)
		}
		// GET and DELETE do not exist in that era; mcp-go answers 405.
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			if r := do(t, method, ts.url, h, nil); r.status != http.StatusMethodNotAllowed {
				t.Errorf("sessionless %s: %d %s", method, r.status, r.body)
			}
		}
	})

	t.Run("other methods are 405", func(t *testing.T) {
		for _, method := range []string{http.MethodPut, http.MethodPatch, http.MethodOptions} {
			r := do(t, method, ts.url, auth, nil)
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
				t.Errorf("%s: %d Allow=%q", method, r.status, r.header.Get("Allow"))
			}
		}
	})
}

// A GET stream of a live session opens; shutting down closes it and
// ServeHTTP returns promptly.
func TestHTTPStreamAndShutdown(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{Keys: testKeys})
	auth := bearer(writeKey)
	id := openSession(t, ts.url, auth)

	req, err := http.NewRequest(http.MethodGet, ts.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range sessionHeaders(auth, id) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	start := time.Now()
	ts.stop(t)
	if d := time.Since(start); d > shutdownTimeout {
		t.Errorf("shutdown took %v", d)
	}
	// The stream ends.
	_, err = io.Copy(io.Discard, bufio.NewReader(resp.Body))
	_ = err // EOF or a reset: either way it returned
}

func TestServeHTTPRefusesNonLoopbackWithoutKeys(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "example.com:0"} {
		ctx, cancel := context.WithCancel(context.Background())
		called := false
		err := ServeHTTP(ctx, newTestMCPServer(), HTTPConfig{Addr: addr}, nil, func(net.Addr) { called = true })
		cancel()
		if err == nil || !strings.Contains(err.Error(), "without API keys") {
			t.Errorf("ServeHTTP(%q) without keys = %v, want refusal", addr, err)
		}
		if called {
			t.Errorf("ServeHTTP(%q) started listening", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0", "127.0.0.2:0"} {
		if !isLoopbackListenAddr(addr) {
			t.Errorf("isLoopbackListenAddr(%q) = false", addr)
		}
	}
}

func TestServeHTTPConfigErrors(t *testing.T) {
	ctx := context.Background()
	bad := []HTTPConfig{
		{Addr: "127.0.0.1:0", Keys: []APIKey{{Name: "x", Key: "short"}}},
		{Addr: "127.0.0.1:0", AllowedOrigins: []string{"app.example.com"}},
		{Addr: "127.0.0.1:0", MaxBodyBytes: -1},
	}
	for _, cfg := range bad {
		if err := ServeHTTP(ctx, newTestMCPServer(), cfg, nil, nil); err == nil {
			t.Errorf("ServeHTTP(%+v) = nil, want error", cfg)
		}
	}
	// Address in use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ServeHTTP(ctx, newTestMCPServer(), HTTPConfig{Addr: ln.Addr().String()}, nil, nil); err == nil {
		t.Error("ServeHTTP on a used address = nil")
	}
}

// A handler without keys mounted on some other server refuses requests to
// every guarded route that did not arrive on loopback.
func TestHTTPHandlerNoKeysNonLoopback(t *testing.T) {
	cfg := guardedConfig()
	cfg.Keys = nil
	h, err := NewHTTPHandler(newTestMCPServer(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	for _, rt := range guardedRoutes {
		for addr, want := range map[string]int{"10.1.2.3:8080": http.StatusForbidden, "127.0.0.1:8080": http.StatusOK} {
			body, _ := rt.body.(string)
			req := httptest.NewRequest(rt.method, "http://localhost"+rt.path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			tcp, _ := net.ResolveTCPAddr("tcp", addr)
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tcp))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != want {
				t.Errorf("%s %s arriving on %s: %d %s, want %d", rt.method, rt.path, addr, rec.Code, rec.Body, want)
			}
		}
	}
}

func TestCallerContext(t *testing.T) {
	if _, ok := CallerFrom(context.Background()); ok {
		t.Error("caller in empty context")
	}
	c := Caller{KeyName: "k", Scope: ScopeRead, Transport: TransportHTTP}
	got, ok := CallerFrom(WithCaller(context.Background(), c))
	if !ok || got != c || got.CanWrite() {
		t.Errorf("CallerFrom = %+v, %v", got, ok)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(WithCaller(context.Background(), c))
	if got, _ := CallerFrom(callerContext(context.Background(), r)); got != c {
		t.Errorf("callerContext = %+v", got)
	}
}

func TestSessionManager(t *testing.T) {
	m := newSessionManager()
	var _ mcpserver.SessionIdManager = m
	a, b := m.Generate(), m.Generate()
	if a == b || !strings.HasPrefix(a, sessionPrefix) || len(a) < len(sessionPrefix)+26 {
		t.Errorf("ids %q %q", a, b)
	}
	if term, err := m.Validate(a); term || err != nil {
		t.Errorf("Validate(live) = %v, %v", term, err)
	}
	if _, err := m.Validate(""); !errors.Is(err, errUnknownSession) {
		t.Errorf("Validate(\"\") = %v", err)
	}
	if notAllowed, err := m.Terminate(a); notAllowed || err != nil {
		t.Errorf("Terminate = %v, %v", notAllowed, err)
	}
	if _, err := m.Validate(a); err == nil {
		t.Error("terminated session still valid")
	}
	if m.count() != 1 {
		t.Errorf("count = %d", m.count())
	}
}
