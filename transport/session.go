package transport

import (
	"crypto/rand"
	"errors"
	"sync"
)

// sessionPrefix marks the session ids this package mints.
const sessionPrefix = "vd-"

var errUnknownSession = errors.New("unknown session")

// sessionManager is the server.SessionIdManager behind /mcp. It mints
// session ids of 128 random bits from crypto/rand and remembers the live
// ones, so that requests naming an id it never issued, or one that was
// terminated (DELETE, idle expiry, shutdown), are refused. Terminated ids
// are simply forgotten: to a client "terminated" and "unknown" both mean
// 404, start a new session.
type sessionManager struct {
	mu   sync.RWMutex
	live map[string]struct{}
}

func newSessionManager() *sessionManager {
	return &sessionManager{live: map[string]struct{}{}}
}

// Generate mints and records a new session id.
func (m *sessionManager) Generate() string {
	id := sessionPrefix + rand.Text()
	m.mu.Lock()
	m.live[id] = struct{}{}
	m.mu.Unlock()
	return id
}

// Validate implements server.SessionIdManager: an id it does not hold is an
// error, which mcp-go answers with 404.
func (m *sessionManager) Validate(id string) (isTerminated bool, err error) {
	if !m.exists(id) {
		return false, errUnknownSession
	}
	return false, nil
}

// Terminate implements server.SessionIdManager. Clients may always end
// their own session.
func (m *sessionManager) Terminate(id string) (isNotAllowed bool, err error) {
	m.mu.Lock()
	delete(m.live, id)
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
