package core

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
)

// AssistantRequester sends the assistant-request webhook and returns the
// reply body; the webhooks package implements it. assistantID names whose
// secret signs the request ("" for the deployment's).
type AssistantRequester interface {
	RequestAssistant(ctx context.Context, url, assistantID string, body []byte) ([]byte, error)
}

// assistantReply is what an assistant-request reply may say, as VoiceDock
// documents it: {} keeps the defaults, assistant_id picks a stored
// assistant, assistant overrides fields for this call only (a merge
// patch), error rejects the call.
type assistantReply struct {
	AssistantID        string          `json:"assistant_id"`
	Assistant          json.RawMessage `json:"assistant"`
	MaxDurationSeconds int             `json:"max_duration_seconds"`
	Error              string          `json:"error"`
}

// callSetup is how an inbound call will be handled.
type callSetup struct {
	assistant *Assistant
	reject    string // the reply's error: reject the call
}

// askForAssistant runs the assistant-request exchange when one is due:
// the number has no assistant (the deployment webhook is asked), or its
// assistant lists assistant-request in webhook_events. No reply in time, a
// failed request or an unusable reply leave the defaults.
func (m *Calls) askForAssistant(ctx context.Context, number PhoneNumber, current *Assistant, inv InboundInvite) callSetup {
	setup := callSetup{assistant: current}
	url, signer := "", ""
	switch {
	case current != nil && current.WebhookURL != "" && slices.Contains(current.WebhookEvents, WebhookAssistantRequest):
		url, signer = current.WebhookURL, current.ID
	case current == nil && m.cfg.DefaultWebhookURL != "":
		url = m.cfg.DefaultWebhookURL
	}
	if url == "" || m.requester == nil {
		return setup
	}
	body, err := json.Marshal(map[string]any{"message": map[string]any{
		"type":         WebhookAssistantRequest,
		"timestamp":    m.timestamp().Format("2006-01-02T15:04:05.000Z"),
		"call":         map[string]any{"type": "inbound_phone_call", "status": CallRinging},
		"phone_number": map[string]any{"id": number.ID, "number": number.PhoneNumber, "name": number.Name},
		"customer":     map[string]any{"number": inv.Caller},
	}})
	if err != nil {
		return setup
	}
	raw, err := m.requester.RequestAssistant(ctx, url, signer, body)
	if err != nil {
		m.logger.WarnContext(ctx, "assistant-request failed; defaults apply", "err", err)
		return setup
	}
	var reply assistantReply
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &reply); err != nil {
			m.logger.WarnContext(ctx, "assistant-request reply is not JSON; defaults apply", "err", err)
			return setup
		}
	}
	if reply.Error != "" {
		// clip cuts bytes: a character it splits is dropped.
		setup.reject = strings.ToValidUTF8(clip(reply.Error), "")
		return setup
	}
	if reply.AssistantID != "" {
		a, err := m.store.GetAssistant(ctx, reply.AssistantID)
		if err != nil {
			m.logger.WarnContext(ctx, "assistant-request picked an unknown assistant; defaults apply", "assistant_id", reply.AssistantID, "err", err)
		} else {
			setup.assistant = &a
		}
	}
	if len(reply.Assistant) > 0 && string(reply.Assistant) != "null" && setup.assistant != nil {
		var patched Assistant
		if err := applyPatch(*setup.assistant, reply.Assistant, &patched); err != nil {
			m.logger.WarnContext(ctx, "assistant-request override refused; defaults apply", "err", err)
		} else if err := ValidateAssistant(&patched.AssistantConfig); err != nil {
			m.logger.WarnContext(ctx, "assistant-request override is not a valid assistant; defaults apply", "err", err)
		} else {
			patched.ID = setup.assistant.ID
			setup.assistant = &patched
		}
	}
	if reply.MaxDurationSeconds > 0 && setup.assistant != nil {
		a := *setup.assistant
		a.MaxDurationSeconds = reply.MaxDurationSeconds
		if err := ValidateAssistant(&a.AssistantConfig); err != nil {
			m.logger.WarnContext(ctx, "assistant-request max_duration_seconds refused; defaults apply", "err", err)
		} else {
			setup.assistant = &a
		}
	}
	return setup
}
