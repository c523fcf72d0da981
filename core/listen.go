package core

import (
	"context"
	"strings"
	"time"
)

// Bounds of WaitForCaller.
const (
	DefaultListenTimeout = 30 * time.Second
	MaxListenTimeout     = 5 * time.Minute
)

// Transcript is a page of a call's conversation and the keys pressed.
type Transcript struct {
	Lines  []TranscriptLine `json:"lines" jsonschema:"required,description=The call's lines\\, oldest first: role user is the caller\\, assistant the server's own speech"`
	Total  int              `json:"total" jsonschema:"required,description=How many lines the call has in all"`
	Digits []Digit          `json:"digits" jsonschema:"required,description=The keys the caller pressed\\, oldest first"`
}

// GetTranscript returns a page of a call's transcript with its digits.
func (m *Calls) GetTranscript(ctx context.Context, callID string, p Page) (Transcript, error) {
	if strings.TrimSpace(callID) == "" {
		return Transcript{}, FieldError(CodeMissingField, "call_id", "call_id is required")
	}
	p, err := p.Normalize()
	if err != nil {
		return Transcript{}, err
	}
	if _, err := m.GetCall(ctx, callID); err != nil {
		return Transcript{}, err
	}
	if m.hear == nil {
		return Transcript{Lines: []TranscriptLine{}, Digits: []Digit{}}, nil
	}
	lines, total, err := m.hear.store.ListTranscript(ctx, callID, p)
	if err != nil {
		return Transcript{}, err
	}
	digits, err := m.hear.store.ListDigits(ctx, callID, 1000)
	if err != nil {
		return Transcript{}, err
	}
	return Transcript{Lines: orEmpty(lines), Total: total, Digits: orEmpty(digits)}, nil
}

// Heard is what WaitForCaller returns: the caller's next utterance or
// key, or why there was none.
type Heard struct {
	// Line is the caller's utterance, Digit the key pressed; at most one
	// is set.
	Line  *TranscriptLine `json:"line,omitempty" jsonschema:"description=What the caller said"`
	Digit *Digit          `json:"digit,omitempty" jsonschema:"description=The key the caller pressed"`
	// TimedOut is set when the deadline passed in silence.
	TimedOut bool `json:"timed_out,omitempty" jsonschema:"description=Nothing was heard before the deadline"`
	// Call is the call as it stands; not live when it ended meanwhile.
	Call Call `json:"call" jsonschema:"required,description=The call as it stands now; when it is no longer live\\, the caller is gone"`
}

// ListenRequest asks for the caller's next utterance or key.
type ListenRequest struct {
	CallID  string
	Timeout time.Duration
	// After is the id of the last line or digit the client has seen: one
	// heard since is returned at once, so nothing said between two waits
	// is missed. "" waits for the next.
	After string
}

// WaitForCaller waits until the caller says something or presses a key,
// the call ends, or the timeout passes.
func (m *Calls) WaitForCaller(ctx context.Context, req ListenRequest) (Heard, error) {
	if strings.TrimSpace(req.CallID) == "" {
		return Heard{}, FieldError(CodeMissingField, "call_id", "call_id is required")
	}
	if req.Timeout == 0 {
		req.Timeout = DefaultListenTimeout
	}
	if req.Timeout < 0 || req.Timeout > MaxListenTimeout {
		return Heard{}, FieldError(CodeInvalidRequest, "timeout_seconds", "timeout must be between 1 and %d seconds", int(MaxListenTimeout/time.Second))
	}
	lc := m.get(req.CallID)
	if lc == nil {
		return Heard{}, m.notLive(ctx, req.CallID)
	}
	if m.hear == nil {
		return Heard{}, &Error{Code: CodeUnsupported, Message: "this server records no conversation: it cannot listen"}
	}
	// Subscribe before looking back, so nothing falls between the two.
	sub := m.bus.SubscribeCall(req.CallID, func(e Event) bool {
		return e.Type == EventDigit || e.Type == EventCallStatus ||
			e.Type == EventTranscript && e.Line != nil && e.Line.Role == RoleUser
	})
	defer sub.Close()
	// The call may have ended just now, its last event already published.
	lc.mu.Lock()
	live, status := lc.call.Live(), lc.call.Status
	lc.mu.Unlock()
	if !live {
		return Heard{}, FieldError(CodeCallNotActive, "call_id", "call %s is %s", req.CallID, status)
	}
	if req.After != "" {
		if h, ok, err := m.heardAfter(ctx, req.CallID, req.After); err != nil || ok {
			return h, err
		}
	}
	timer := time.NewTimer(req.Timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return Heard{}, ctx.Err()
		case <-timer.C:
			c, err := m.GetCall(ctx, req.CallID)
			return Heard{TimedOut: true, Call: c}, err
		case e, ok := <-sub.C:
			if !ok {
				return Heard{}, &Error{Code: CodeInternal, Message: "event stream closed"}
			}
			switch {
			case e.Line != nil:
				return Heard{Line: e.Line, Call: e.Call}, nil
			case e.Digit != nil:
				return Heard{Digit: e.Digit, Call: e.Call}, nil
			case !e.Call.Live():
				return Heard{Call: e.Call}, nil
			}
		}
	}
}

// heardAfter finds the caller's first line or digit stored after the one
// with id after (ids are time-ordered).
func (m *Calls) heardAfter(ctx context.Context, callID, after string) (Heard, bool, error) {
	var h Heard
	for off := 0; ; off += MaxPageLimit {
		lines, total, err := m.hear.store.ListTranscript(ctx, callID, Page{Limit: MaxPageLimit, Offset: off})
		if err != nil {
			return Heard{}, false, err
		}
		for i := range lines {
			if lines[i].Role == RoleUser && lines[i].ID > after {
				h.Line = &lines[i]
				break
			}
		}
		if h.Line != nil || off+len(lines) >= total || len(lines) == 0 {
			break
		}
	}
	digits, err := m.hear.store.ListDigits(ctx, callID, 1000)
	if err != nil {
		return Heard{}, false, err
	}
	for i := range digits {
		if digits[i].ID > after {
			if h.Line == nil || digits[i].ID < h.Line.ID {
				h.Line, h.Digit = nil, &digits[i]
			}
			break
		}
	}
	if h.Line == nil && h.Digit == nil {
		return Heard{}, false, nil
	}
	c, err := m.GetCall(ctx, callID)
	h.Call = c
	return h, true, err
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
