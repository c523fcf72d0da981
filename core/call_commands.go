package core

import (
	"context"
	"strings"
)

// GetCall returns a call with its transfers: the live state when the call
// is held, else the stored record.
func (m *Calls) GetCall(ctx context.Context, id string) (Call, error) {
	if strings.TrimSpace(id) == "" {
		return Call{}, FieldError(CodeMissingField, "id", "id is required")
	}
	lc := m.get(id)
	if lc == nil {
		// An ended call whose end the store has not taken yet: its record
		// is what is kept to be written, not the store's older one.
		lc = m.behindCall(id)
	}
	if lc != nil {
		lc.mu.Lock()
		c := lc.call
		c.Transfers = make([]Transfer, len(lc.call.Transfers))
		for i, t := range lc.call.Transfers {
			c.Transfers[i] = cloneTransfer(t)
		}
		lc.mu.Unlock()
		c.Messages = m.messagesOf(id)
		return c, nil
	}
	c, err := m.callStore.GetCall(ctx, id)
	if HasCode(err, CodeNotFound) {
		return Call{}, FieldError(CodeNotFound, "id", "call %q not found", clip(id))
	}
	if err == nil {
		c.Messages = m.storedMessages(ctx, id)
	}
	return c, err
}

// ListCalls returns a page of stored calls, newest first.
func (m *Calls) ListCalls(ctx context.Context, f CallFilter) ([]Call, int, error) {
	p, err := f.Page.Normalize()
	if err != nil {
		return nil, 0, err
	}
	f.Page = p
	switch f.Status {
	case "", CallRinging, CallDialing, CallInProgress, CallTransferred, CallEnded, CallFailed, CallRejected:
	default:
		return nil, 0, FieldError(CodeInvalidRequest, "status", "unknown call status %q", clip(f.Status))
	}
	return m.callStore.ListCalls(ctx, f)
}

// EndCall hangs up a live call and returns it as ended.
func (m *Calls) EndCall(ctx context.Context, id string) (Call, error) {
	return m.EndCallSaying(ctx, id, "")
}

// hangup ends the call through the SIP layer and waits for its end.
func (m *Calls) hangup(ctx context.Context, lc *liveCall) (Call, error) {
	id := lc.call.ID
	// Subscribe first: the SIP layer reports the end through CallEnded.
	sub := m.bus.SubscribeCall(id, func(e Event) bool { return e.Type == EventCallStatus && !e.Call.Live() })
	defer sub.Close()
	if err := m.sig.Hangup(ctx, id); err != nil {
		return Call{}, &Error{Code: CodeUnavailable, Message: "could not hang up: " + err.Error(), err: err}
	}
	select {
	case <-sub.C:
	case <-ctx.Done():
		return Call{}, &Error{Code: CodeUnavailable, Message: "the hang-up did not complete in time", err: ctx.Err()}
	}
	return m.GetCall(ctx, id)
}

// Shutdown records every call still live as ended (the SIP layer, shut
// down first, has normally ended them already), then ends the manager's
// own work (transfer attempts, REFERs, hang-ups, audio) and waits for its
// goroutines, at most until ctx ends: once it returns, nothing of the
// manager writes to the store. Work asked for afterwards is not started.
func (m *Calls) Shutdown(ctx context.Context) {
	m.mu.RLock()
	ids := make([]string, 0, len(m.live))
	for id := range m.live {
		ids = append(ids, id)
	}
	m.mu.RUnlock()
	for _, id := range ids {
		if lc := m.get(id); lc != nil {
			lc.mu.Lock()
			m.endLocked(ctx, lc, EndShutdown)
			lc.mu.Unlock()
		}
	}
	m.stop()
	if err := m.work.close(ctx); err != nil {
		m.logger.WarnContext(ctx, "shutdown: the call manager's work did not end in time", "err", err)
	}
}
