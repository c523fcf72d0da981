package core

import (
	"context"
	"strings"
)

// What the conversation loop reads of a live call: the only places it
// looks inside the call manager (besides sayOn, notLive, allowCommand and
// the public Transfer and EndCallSaying it calls).

// isLive reports whether the call is live.
func (m *Calls) isLive(callID string) bool {
	lc := m.get(callID)
	if lc == nil {
		return false
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.call.Live()
}

// transferring reports whether a transfer of the call is in flight.
func (m *Calls) transferring(callID string) bool {
	lc := m.get(callID)
	if lc == nil {
		return false
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.active != nil
}

// conversationStart is what a call's conversation begins with.
type conversationStart struct {
	assistant *Assistant // nil: no llm_config
	greeting  string     // first_message, said when an inbound call is answered
}

// conversationStart reads the call's assistant (as the call began, with any
// assistant-request override; as stored for a call placed without one);
// false when the call is not live.
func (m *Calls) conversationStart(ctx context.Context, callID string) (conversationStart, bool) {
	lc := m.get(callID)
	if lc == nil {
		return conversationStart{}, false
	}
	lc.mu.Lock()
	a, assistantID, live := lc.assistant, lc.call.AssistantID, lc.call.Live()
	var greeting string
	if lc.call.Direction == DirectionInbound {
		greeting = strings.TrimSpace(lc.call.FirstMessage)
	}
	lc.mu.Unlock()
	if !live {
		return conversationStart{}, false
	}
	if a == nil && assistantID != "" {
		stored, err := m.store.GetAssistant(ctx, assistantID)
		if err != nil && !HasCode(err, CodeNotFound) {
			m.logger.ErrorContext(ctx, "look up the call's assistant", "call_id", callID, "err", err)
		}
		if err == nil {
			a = &stored
		}
	}
	if a == nil || a.LLMConfig == nil {
		return conversationStart{}, true
	}
	return conversationStart{assistant: a, greeting: greeting}, true
}
