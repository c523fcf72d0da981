package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	mcpserver "github.com/mark3labs/mcp-go/server"
)

// eventStore keeps the last few SSE events of each session so that a
// client can resume a broken stream. mcp-go's InMemoryEventStore keeps
// every event of a session until it ends, which grows without bound on a
// long-lived agent session; this one keeps a fixed window per session.
//
// An event store also changes how mcp-go finishes a POST that streamed
// notifications: it stops the notification forwarder before writing the
// response, so the last progress notification of a transfer is delivered
// rather than dropped by the race between the two.
type eventStore struct {
	mu       sync.Mutex
	seq      int64
	perSess  int
	sessions map[string]*sessionEvents
}

type sessionEvents struct {
	events []storedEvent // oldest first, at most perSess
}

type storedEvent struct {
	id     int64
	stream string
	msg    json.RawMessage
}

func newEventStore(perSession int) *eventStore {
	return &eventStore{perSess: perSession, sessions: map[string]*sessionEvents{}}
}

var _ mcpserver.EventStore = (*eventStore)(nil)

func (s *eventStore) StoreEvent(_ context.Context, sessionID, streamID string, message json.RawMessage) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.sessions[sessionID]
	if se == nil {
		se = &sessionEvents{}
		s.sessions[sessionID] = se
	}
	s.seq++
	if len(se.events) >= s.perSess {
		copy(se.events, se.events[1:])
		se.events = se.events[:len(se.events)-1]
	}
	se.events = append(se.events, storedEvent{id: s.seq, stream: streamID, msg: append(json.RawMessage(nil), message...)})
	return strconv.FormatInt(s.seq, 10), nil
}

func (s *eventStore) ReplayEventsAfter(_ context.Context, sessionID, lastEventID string, send func(eventID string, message json.RawMessage) error) (string, error) {
	last, err := strconv.ParseInt(lastEventID, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: %s", mcpserver.ErrUnknownEventID, lastEventID)
	}
	s.mu.Lock()
	se := s.sessions[sessionID]
	var stream string
	var tail []storedEvent
	if se != nil {
		for i, e := range se.events {
			if e.id == last {
				stream = e.stream
				for _, later := range se.events[i+1:] {
					if later.stream == stream {
						tail = append(tail, later)
					}
				}
				break
			}
		}
	}
	s.mu.Unlock()
	if stream == "" {
		return "", fmt.Errorf("%w: %s", mcpserver.ErrUnknownEventID, lastEventID)
	}
	for _, e := range tail {
		if err := send(strconv.FormatInt(e.id, 10), e.msg); err != nil {
			return "", err
		}
	}
	return stream, nil
}

func (s *eventStore) PurgeSession(_ context.Context, sessionID string) error {
	s.mu.Lock()
	delete(s.sessions, sessionID)
	s.mu.Unlock()
	return nil
}
