package transport

import (
	"context"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// Direct reads: a tools/call of a hot read tool (HTTPConfig.DirectTools,
// e.g. get_call) on a live session is handed to mcp-go's
// MCPServer.HandleMessage by the transport itself, instead of through
// mcp-go's StreamableHTTPServer.
//
// Why: for such a call mcp-go's POST handling (handlePost) cost more than
// the tool and its store read together (BenchmarkGetCallHTTP): it decodes
// the body once more to classify it, allocates two notification channels
// (one of 100 slots) and starts a goroutine to forward notifications the
// call never sends, and sets up a resumable stream, all per request. The
// current mcp-go (v1.6.0, the newest on the module proxy) has no option
// that skips this for a plain request/response call.
//
// Why HandleMessage rather than calling the tool ourselves: everything that
// decides the answer stays mcp-go's and ours as it is on the other path:
// the JSON-RPC checks (member names, version, duplicate request ids), the
// hooks (tasks, resources), the tool filter that hides writing tools from a
// read key, the recovery middleware, argument and error shapes, and the
// encoding of the result. The auth, rate limit and scope checks run in
// front of both paths (the guard and checkScope). So the JSON-RPC response
// is the same bytes by construction, and TestDirectReadsMatchMCPGo holds
// it to that for a success and every error shape.
//
// Reconsidered, and still HandleMessage: what serving the tool ourselves
// would save is the decodes inside it (the envelope, the id, the member
// names, the request once more, the client's _meta twice): about a fifth
// of the server's CPU for a sessionless get_call, a tenth of the whole
// request with mcp-go's client at the other end, whose parse of the result
// costs as much as the server's whole answer. For that it would copy by
// hand the in-flight request table and cancellation (unexported), the
// hooks this server registers, the protocol-info checks, input and output
// validation, the result decoration of the 2026-07-28 era and every error
// shape, each a way to drift from mcp-go on its next release. What is done
// instead: the transport's own look at the message is one decode with
// _meta kept raw (message), and the answer is written without the
// library's second and third pass over the result (writeResponse).
//
// What differs, and why it is fine:
//   - The answer is always application/json. mcp-go answers a session that
//     was ever sent a notification (a broadcast list change is enough) as a
//     one-event SSE stream recorded for resumption. Both are valid
//     streamable HTTP answers every client reads; these tools send no
//     notification, and a lost answer to a read is asked again.
//   - Notifications queued for the session are not flushed onto this
//     answer; they wait for the GET stream or the next request mcp-go
//     serves. A session's requests go through mcp-go at least every
//     directRefresh (see below), which flushes them.
//   - mcp-go's session idle clock is not touched here (its touch is
//     unexported): the same directRefresh keeps it within a second of the
//     truth.
//
// Anything else (another method or tool, a progress token, log level or
// task in params, a batch, a missing or unsupported protocol version or
// one the body contradicts, an unknown or uninitialized session, a Host
// mcp-go's DNS-rebinding check could refuse) goes to mcp-go unchanged.
type directReads struct {
	mcp        *mcpserver.MCPServer
	streamable *mcpserver.StreamableHTTPServer
	tools      map[string]bool
	versions   []string
	// served counts the calls answered here (tests).
	served atomic.Int64
}

// directRefresh is how long a session's requests may bypass mcp-go's
// StreamableHTTPServer before one goes through it again, to touch the
// session's idle clock and flush its queued notifications.
const directRefresh = time.Second

// directBodyMax bounds the bodies served directly, far below mcp-go's own
// body limit (DefaultMaxRequestBodyBytes), so that a body mcp-go would
// refuse for its size never takes this path.
const directBodyMax = 64 << 10

func newDirectReads(srv *mcpserver.MCPServer, streamable *mcpserver.StreamableHTTPServer, tools []string) *directReads {
	if len(tools) == 0 {
		return nil
	}
	d := &directReads{mcp: srv, streamable: streamable, tools: map[string]bool{}, versions: mcpserver.FilterSupportedVersions(streamable)}
	for _, t := range tools {
		d.tools[t] = true
	}
	return d
}

// serve answers r (body already read and checked by the guard and scope,
// msg its parse when preparePost made one) when it is a direct read, and
// reports whether it did.
//
// Both protocol eras: a session-era request (a protocol version before
// 2026-07-28) runs in its live session, as mcp-go would run it; a
// sessionless one (2026-07-28, what mcp-go's client speaks by default) in
// a session of its own that lives as long as the request, as mcp-go runs
// it (modernSession).
func (d *directReads) serve(w http.ResponseWriter, r *http.Request, body []byte, msg *message, sessions *sessionManager) bool {
	if d == nil || len(body) > directBodyMax || len(body) == 0 || body[0] != '{' {
		return false
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return false
		}
	}
	version := r.Header.Get(mcp.HeaderProtocolVersion)
	if version == "" || !mcp.IsValidProtocolVersion(version) || !hostPassesRebindingCheck(r) {
		return false
	}
	modern := mcp.IsModernProtocol(version)
	var session mcpserver.ClientSession
	if modern {
		// mcp-go's validateModernRequest refuses these.
		if r.Header.Get(mcp.HeaderLastEventID) != "" || !d.streamable.SupportsProtocolVersion(version) {
			return false
		}
	} else {
		session = sessions.directSession(r.Header.Get(mcpserver.HeaderKeySessionID))
		if session == nil || !session.Initialized() {
			return false
		}
	}
	m := msg
	if m == nil {
		var ok bool
		if m, ok = parseMessage(body); !ok {
			return false
		}
	}
	name := m.toolName()
	if m.Method != string(mcp.MethodToolsCall) || !d.tools[name] || len(m.ID) == 0 || string(m.ID) == "null" ||
		m.Params.Task != nil || m.Result != nil || m.Error != nil {
		return false
	}
	// Progress is streamed, and a log level is the session's: both are
	// mcp-go's.
	if meta := m.Params.Meta; meta.has("progressToken") || meta.has(mcp.MetaKeyLogLevel) {
		return false
	}
	// The era is the header's and the body's together; over HTTP a
	// sessionless request must state the same version in both.
	if metaVersion := m.Params.Meta.protocolVersion(); modern && metaVersion != version || !modern && mcp.IsModernProtocol(metaVersion) {
		return false
	}
	if modern {
		// mcp-go checks Mcp-Method and Mcp-Name against the body from the
		// request's headers, which only its own transport can hand it: a
		// request they would fail goes to mcp-go, which answers the error.
		// (The direct tools have no x-mcp-header parameters, the other
		// headers mcp-go would check.)
		if mcp.ValidateStandardHeadersFunc(r.Header.Get, version, mcp.MethodToolsCall, func() (string, bool) { return name, true }) != nil {
			return false
		}
		session = newModernSession()
	}
	// The context mcp-go's handlePost builds, but for its request-header
	// value (unexported): mcp-go reads it only for tracing and request
	// logs, which this server does not configure. The caller and the
	// delivery tracker (callerContext, on mcp-go's path) are in r's
	// context already, which this one is made from.
	ctx := d.mcp.WithContext(r.Context(), session)
	ctx = mcpserver.WithSupportedProtocolVersions(ctx, d.versions)
	resp := d.mcp.HandleMessage(ctx, body)
	d.served.Add(1)
	if resp == nil {
		w.WriteHeader(http.StatusAccepted)
		return true
	}
	status := http.StatusOK
	if e, ok := resp.(mcp.JSONRPCError); ok && modern {
		status = httpStatusForJSONRPCError(e.Error.Code)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeResponse(w, resp)
	return true
}

// httpStatusForJSONRPCError is mcp-go's mapping (unexported there) of a
// JSON-RPC error onto the HTTP status protocol version 2026-07-28
// prescribes; TestDirectReadsMatchMCPGo holds the two together.
func httpStatusForJSONRPCError(code int) int {
	switch code {
	case mcp.METHOD_NOT_FOUND:
		return http.StatusNotFound
	case mcp.HEADER_MISMATCH, mcp.MISSING_REQUIRED_CLIENT_CAPABILITY, mcp.UNSUPPORTED_PROTOCOL_VERSION,
		mcp.INVALID_REQUEST, mcp.INVALID_PARAMS, mcp.PARSE_ERROR:
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// modernSession is the session a sessionless (2026-07-28) request runs in,
// as mcp-go gives it one: not registered anywhere, so nothing is broadcast
// to it, holding the client's info and capabilities from the request's
// _meta (mcp-go's handleMessage sets them) for the handlers to read.
type modernSession struct {
	initialized  atomic.Bool
	notes        chan mcp.JSONRPCNotification
	mu           sync.Mutex
	info         mcp.Implementation
	capabilities mcp.ClientCapabilities
}

func newModernSession() *modernSession {
	return &modernSession{notes: make(chan mcp.JSONRPCNotification, 1)}
}

var _ mcpserver.SessionWithClientInfo = (*modernSession)(nil)

func (s *modernSession) Initialize()       { s.initialized.Store(true) }
func (s *modernSession) Initialized() bool { return s.initialized.Load() }
func (s *modernSession) SessionID() string { return "" }

// NotificationChannel takes what a handler would send the client
// mid-request; the direct tools send nothing.
func (s *modernSession) NotificationChannel() chan<- mcp.JSONRPCNotification { return s.notes }

func (s *modernSession) GetClientInfo() mcp.Implementation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

func (s *modernSession) SetClientInfo(info mcp.Implementation) {
	s.mu.Lock()
	s.info = info
	s.mu.Unlock()
}

func (s *modernSession) GetClientCapabilities() mcp.ClientCapabilities {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.capabilities
}

func (s *modernSession) SetClientCapabilities(c mcp.ClientCapabilities) {
	s.mu.Lock()
	s.capabilities = c
	s.mu.Unlock()
}

// hostPassesRebindingCheck reports whether mcp-go's DNS-rebinding check
// (no allowed hosts configured) certainly lets r through: a loopback Host,
// or a connection not made to a loopback address. When in doubt the
// request goes to mcp-go, which decides.
func hostPassesRebindingCheck(r *http.Request) bool {
	if isLoopbackHostPort(r.Host) {
		return true
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return ok && local != nil && !isLoopbackHostPort(local.String())
}

func isLoopbackHostPort(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// sessionContext is mcp-go's HTTP context function: it carries the caller
// into the tool's context (callerContext) and remembers, for direct reads,
// the session object mcp-go serves the request's session with.
func (m *sessionManager) sessionContext(ctx context.Context, r *http.Request) context.Context {
	if s := mcpserver.ClientSessionFromContext(ctx); s != nil {
		m.rememberClient(r.Header.Get(mcpserver.HeaderKeySessionID), s)
	}
	return callerContext(ctx, r)
}
