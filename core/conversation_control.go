package core

import (
	"context"
	"strings"
)

// What an MCP client (control_call) can do with a call's model.

// modelCall returns the conversation of a live call whose assistant has a
// model, or the error saying why there is none.
func (c *Conversations) modelCall(ctx context.Context, callID string) (*conversation, error) {
	if strings.TrimSpace(callID) == "" {
		return nil, FieldError(CodeMissingField, "call_id", "call_id is required")
	}
	conv := c.open(ctx, callID)
	if conv == nil {
		return nil, c.calls.notLive(ctx, callID)
	}
	if conv.assistant == nil {
		return nil, FieldError(CodeUnsupported, "call_id", "no language model holds call %s: its assistant has no llm_config", callID)
	}
	return conv, nil
}

// TakeOver stops the model for the call: the completion in flight is
// dropped and the reply being spoken is cut off; the caller's lines still
// reach every watcher, and only the client speaks, transfers or hangs up
// until HandBack. A transfer or hang-up the model had already started goes
// on to its outcome. Taking over a call already taken over does nothing.
func (c *Conversations) TakeOver(ctx context.Context, callID string) error {
	conv, err := c.modelCall(ctx, callID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	was := conv.takenOver
	conv.takenOver = true
	conv.pending = false
	conv.stopLocked()
	c.mu.Unlock()
	if !was {
		c.logger.InfoContext(ctx, "model stopped: a client took over the call", "call_id", callID)
	}
	return nil
}

// HandBack lets the model hold the call again from the caller's next line
// (what was said meanwhile is in its conversation).
func (c *Conversations) HandBack(ctx context.Context, callID string) error {
	conv, err := c.modelCall(ctx, callID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	was := conv.takenOver
	conv.takenOver = false
	c.mu.Unlock()
	if was {
		c.logger.InfoContext(ctx, "model holds the call again", "call_id", callID)
	}
	return nil
}

// InjectContext adds a system message to the call's conversation (an SMS
// code, CRM data); with respond, the model answers at once, as it would a
// caller's line. It is a control command, limited like the others.
func (c *Conversations) InjectContext(ctx context.Context, callID, content string, respond bool) error {
	if strings.TrimSpace(content) == "" {
		return FieldError(CodeMissingField, "content", "content is required")
	}
	if err := maxLen("content", content, maxMessage); err != nil {
		return err
	}
	conv, err := c.modelCall(ctx, callID)
	if err != nil {
		return err
	}
	if lc := c.calls.get(callID); lc != nil {
		if err := c.calls.allowCommand(lc); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if respond && conv.takenOver {
		return FieldError(CodeConflict, "trigger_response", "the model is stopped for call %s (take-over): hand it back first, or inject without trigger_response", callID)
	}
	conv.addLocked(ModelMessage{Role: RoleSystem, Content: content})
	if respond {
		c.answerLocked(conv)
	}
	return nil
}
