package transport

import (
	"crypto/rand"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"github.com/voicedock/voicedock/server"
)

// sessionPrefix marks the session ids this package mints.
const sessionPrefix = "vd-"

var errUnknownSession = errors.New("unknown session")

// sessionManager is the mcpserver.SessionIdManager behind /mcp. It mints
// session ids of 128 random bits from crypto/rand and remembers the live
// ones, so that requests naming an id it never issued, or one that was
// terminated (DELETE, idle expiry, shutdown), are refused. Terminated ids
// are simply forgotten: to a client "terminated" and "unknown" both mean
// 404, start a new session.
//
// It also keeps each session's progress DeliveryTracker. mcp-go hands a
// session's notifications to whichever of its streams reads first: the POST
// of the request or the session's GET stream. The tracker is shared by all
// of a session's requests so that a result waits for its progress
// notifications on either stream.
type sessionManager struct {
	mu       sync.RWMutex
	live     map[string]struct{}
	trackers map[string]*server.DeliveryTracker
	// clients are the mcp-go session objects of live sessions, for direct
	// reads (direct.go).
	clients map[string]*directSession
	// now is the clock of directRefresh (tests may set it).
	now func() time.Time
}

// directSession is a live session's mcp-go session object and when a
// request of it last went through mcp-go's StreamableHTTPServer.
type directSession struct {
	client   mcpserver.ClientSession
	viaMCPGo atomic.Int64 // unix nanoseconds
}

func newSessionManager() *sessionManager {
	return &sessionManager{live: map[string]struct{}{}, trackers: map[string]*server.DeliveryTracker{},
		clients: map[string]*directSession{}, now: time.Now}
}

// rememberClient records the mcp-go session object serving live session
// id, as mcp-go hands it to the request's context, and that a request of
// it goes through mcp-go now.
func (m *sessionManager) rememberClient(id string, client mcpserver.ClientSession) {
	if id == "" || client.SessionID() != id {
		return
	}
	now := m.now().UnixNano()
	m.mu.RLock()
	ds := m.clients[id]
	m.mu.RUnlock()
	if ds != nil && ds.client == client {
		ds.viaMCPGo.Store(now)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live[id]; !ok {
		return
	}
	ds = &directSession{client: client}
	ds.viaMCPGo.Store(now)
	m.clients[id] = ds
}

// directSession returns the mcp-go session object of live session id when
// a request of it went through mcp-go within directRefresh, else nil.
func (m *sessionManager) directSession(id string) mcpserver.ClientSession {
	if id == "" {
		return nil
	}
	m.mu.RLock()
	ds := m.clients[id]
	m.mu.RUnlock()
	if ds == nil || m.now().UnixNano()-ds.viaMCPGo.Load() >= int64(directRefresh) {
		return nil
	}
	return ds.client
}

// tracker returns the delivery tracker of the live session id, or a fresh
// one for a request outside a session (initialize, the sessionless
// protocol, an unknown id).
func (m *sessionManager) tracker(id string) *server.DeliveryTracker {
	// Every request asks; a session's tracker exists from its second
	// request on, so a shared lock finds it without serialising them.
	m.mu.RLock()
	t := m.trackers[id]
	m.mu.RUnlock()
	if t != nil {
		return t
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live[id]; !ok || id == "" {
		return server.NewDeliveryTracker()
	}
	t = m.trackers[id]
	if t == nil {
		t = server.NewDeliveryTracker()
		m.trackers[id] = t
	}
	return t
}

// Generate mints and records a new session id.
func (m *sessionManager) Generate() string {
	id := sessionPrefix + rand.Text()
	m.mu.Lock()
	m.live[id] = struct{}{}
	m.mu.Unlock()
	return id
}

// Validate implements mcpserver.SessionIdManager: an id it does not hold is an
// error, which mcp-go answers with 404.
func (m *sessionManager) Validate(id string) (isTerminated bool, err error) {
	if !m.exists(id) {
		return false, errUnknownSession
	}
	return false, nil
}

// Terminate implements mcpserver.SessionIdManager. Clients may always end
// their own session.
func (m *sessionManager) Terminate(id string) (isNotAllowed bool, err error) {
	m.mu.Lock()
	delete(m.live, id)
	delete(m.trackers, id)
	delete(m.clients, id)
	m.mu.Unlock()
	return false, nil
}

func (m *sessionManager) exists(id string) bool {
	if id == "" {
		return false
	}
	m.mu.RLock()
	_, ok := m.live[id]
	m.mu.RUnlock()
	return ok
}

func (m *sessionManager) count() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.live)
}

// checkSession applies the session rules to GET (the listening stream) and
// DELETE (session termination). mcp-go would open a stream with a fresh
// session for a GET without or with an unknown id, and answer 200 to a
// DELETE of any id. Requests of the sessionless era fall through to mcp-go,
// which answers them 405.
func (h *HTTPHandler) checkSession(w http.ResponseWriter, r *http.Request) bool {
	if mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
		return true
	}
	return h.requireSession(w, r)
}

// requireSession answers 400 when the Mcp-Session-Id header is missing and
// 404 when it names no live session.
func (h *HTTPHandler) requireSession(w http.ResponseWriter, r *http.Request) bool {
	id := r.Header.Get(mcpserver.HeaderKeySessionID)
	if id == "" {
		h.reject(r, "missing session id")
		writeJSONRPCError(w, http.StatusBadRequest, mcp.INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required")
		return false
	}
	if !h.sessions.exists(id) {
		h.reject(r, "unknown or terminated session")
		writeJSONRPCError(w, http.StatusNotFound, sessionNotFoundCode, "Session not found")
		return false
	}
	return true
}

// sessionNotFoundCode is the JSON-RPC error code the reference SDK uses for
// an unknown session.
const sessionNotFoundCode = -32001
