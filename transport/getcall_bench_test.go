package transport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/server"
	"github.com/voicedock/voicedock/store/sqlite"
	"github.com/voicedock/voicedock/tools"
	"github.com/voicedock/voicedock/transport"
)

// BenchmarkGetCallHTTP is the server's side of one get_call over
// streamable HTTP: the real transport, MCP server and tools over a real
// SQLite store, driven by raw JSON-RPC POSTs (no MCP client, whose cost
// the bench's MCP throughput numbers include) on an initialized session;
// "direct" as the server is wired (get_call a direct read), "mcp-go"
// through mcp-go's streamable HTTP server. BenchmarkGetCallPlainHTTP is
// the reference.
//
// "sessionless" is the same call in the 2026-07-28 era (what mcp-go's
// client and the bench's clients speak): no session, the protocol version
// in the body's _meta and the headers.
func BenchmarkGetCallHTTP(b *testing.B) {
	for _, direct := range []bool{true, false} {
		b.Run(map[bool]string{true: "direct", false: "mcp-go"}[direct], func(b *testing.B) {
			post, session, req := getCallServer(b, direct)
			b.ReportAllocs()
			for b.Loop() {
				if w := post(session, req); w.Code != http.StatusOK {
					b.Fatalf("get_call: %d %s", w.Code, w.Body)
				}
			}
		})
		b.Run(map[bool]string{true: "direct-sessionless", false: "mcp-go-sessionless"}[direct], func(b *testing.B) {
			post, _, req := getCallServer(b, direct)
			modern := strings.Replace(req, `"arguments":`, `"_meta":{"io.modelcontextprotocol/protocolVersion":"`+mcp.ProtocolVersion20260728+
				`","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}},"arguments":`, 1)
			b.ReportAllocs()
			for b.Loop() {
				if w := post(sessionless, modern); w.Code != http.StatusOK || bytes.Contains(w.Body.Bytes(), []byte(`"isError":true`)) {
					b.Fatalf("get_call: %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// sessionless, as post's session, posts a 2026-07-28 get_call request.
const sessionless = "(sessionless)"

// BenchmarkGetCallPlainHTTP is the reference of BenchmarkGetCallHTTP: the
// same store read behind a plain net/http JSON handler, as the bench's
// "plain net/http" (bench/embed.go), through the same kind of request.
func BenchmarkGetCallPlainHTTP(b *testing.B) {
	calls, _, id := getCallStore(b)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := calls.GetCall(r.Context(), r.URL.Query().Get("id"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"call": c})
	})
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/plain/get_call?id="+id, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("get_call: %d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkGetCallHTTPParallel is BenchmarkGetCallHTTP with 32 requests
// at a time on one session, as the bench's clients send them.
func BenchmarkGetCallHTTPParallel(b *testing.B) {
	post, session, req := getCallServer(b, true)
	b.ReportAllocs()
	b.SetParallelism(16) // x GOMAXPROCS (2 here): 32
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if w := post(session, req); w.Code != http.StatusOK {
				b.Errorf("get_call: %d %s", w.Code, w.Body)
				return
			}
		}
	})
}

// getCallStore opens a store holding one ended call, and returns the calls
// service over it and the call's id.
func getCallStore(b *testing.B) (*core.Calls, *sqlite.Store, string) {
	ctx := b.Context()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "vd.db"), make([]byte, 32), logger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Millisecond)
	call := core.Call{ID: "01a20f03-ddbd-79af-b42f-9d7172ae592a", Direction: core.DirectionInbound, Status: core.CallEnded,
		CallerPhone: "+31611122233", AgentPhone: "+31850835037", StartedAt: &now, EndedAt: &now,
		EndReason: "customer-ended-call", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateCall(ctx, call); err != nil {
		b.Fatal(err)
	}
	return core.NewCalls(ctx, core.CallsConfig{}, st, st, core.NewBus(), logger), st, call.ID
}

// getCallServer starts the server of the get_call benchmarks, with get_call
// a direct read or not, and opens a session. It returns a function posting
// a JSON-RPC body on a session (none: ""), the session and the get_call
// request.
func getCallServer(b *testing.B, direct bool) (post func(session, body string) *httptest.ResponseRecorder, session, req string) {
	logger := slog.New(slog.DiscardHandler)
	calls, st, callID := getCallStore(b)
	svc := core.NewConfiguration(st, logger)
	list := tools.All(tools.Deps{Config: svc, Calls: calls, Deliveries: core.NewDeliveries(st, func() {})})
	srv, err := server.New(list, server.Options{Name: "voicedock", Version: "bench", Logger: logger, Calls: calls, Config: svc})
	if err != nil {
		b.Fatal(err)
	}
	var directTools []string
	if direct {
		directTools = server.DirectTools(list)
	}
	h, err := transport.NewHTTPHandler(srv.MCP, transport.HTTPConfig{RateLimitPerMinute: -1, WriteTools: server.WriteTools(list), DirectTools: directTools,
		Keys: []transport.APIKey{{Name: "bench", Key: "bench-key-0123456789abcdef", Scope: transport.ScopeWrite}}}, logger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(context.Background()) })

	post = func(session, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+transport.MCPPath, strings.NewReader(body))
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Authorization", "Bearer bench-key-0123456789abcdef")
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		switch session {
		case "":
		case sessionless:
			r.Header.Set(mcp.HeaderProtocolVersion, mcp.ProtocolVersion20260728)
			r.Header.Set(mcp.HeaderMethod, "tools/call")
			r.Header.Set(mcp.HeaderName, "get_call")
		default:
			r.Header.Set("Mcp-Session-Id", session)
			r.Header.Set(mcp.HeaderProtocolVersion, mcp.LATEST_LEGACY_PROTOCOL_VERSION)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	init := post("", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+mcp.LATEST_LEGACY_PROTOCOL_VERSION+`","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	session = init.Header().Get("Mcp-Session-Id")
	if init.Code != http.StatusOK || session == "" {
		b.Fatalf("initialize: %d %s", init.Code, init.Body)
	}
	if w := post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); w.Code/100 != 2 {
		b.Fatalf("initialized: %d %s", w.Code, w.Body)
	}
	req = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_call","arguments":{"id":"` + callID + `"}}}`
	w := post(session, req)
	if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"structuredContent"`)) || bytes.Contains(w.Body.Bytes(), []byte(`"isError":true`)) {
		b.Fatalf("get_call: %d %s", w.Code, w.Body)
	}
	return post, session, req
}
