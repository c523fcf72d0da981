package core

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Webhook event types, as the VoiceDock API names them; transfer-update
// is this server's addition.
const (
	WebhookStatusUpdate     = "status-update"
	WebhookTransferUpdate   = "transfer-update"
	WebhookEndOfCallReport  = "end-of-call-report"
	WebhookAssistantRequest = "assistant-request"
)

// webhookTarget is where a call's events go: the assistant's webhook (as
// configured when the call started) or the deployment's default.
type webhookTarget struct {
	url         string
	assistantID string // whose secret signs; "" for the deployment's
	events      []string
}

func (t webhookTarget) wants(event string) bool {
	// No list means every call event: an assistant that set a webhook URL
	// wants to hear of its calls.
	return len(t.events) == 0 || slices.Contains(t.events, event)
}

// webhookTargets returns the targets of a call whose assistant is a.
func (m *Calls) webhookTargets(a *Assistant) []webhookTarget {
	var out []webhookTarget
	if a != nil && a.WebhookURL != "" {
		out = append(out, webhookTarget{url: a.WebhookURL, assistantID: a.ID, events: a.WebhookEvents})
	}
	if m.cfg.DefaultWebhookURL != "" {
		out = append(out, webhookTarget{url: m.cfg.DefaultWebhookURL})
	}
	return out
}

// webhookCall is the call as webhook bodies show it.
type webhookCall struct {
	Call
	Type string `json:"type"`
}

func callType(c Call) string {
	if c.Direction == DirectionOutbound {
		return "outbound_phone_call"
	}
	return "inbound_phone_call"
}

// webhookBody builds {"message": {...}} for an event. It writes the
// message's members itself, in the sorted order encoding/json gives a
// map, so that the body is byte for byte what json.Marshal of the
// message as a map made, without building that map (and boxing its
// values) for every row: each transfer step and call change builds one.
func webhookBody(event string, at time.Time, c Call, extra map[string]any) (json.RawMessage, error) {
	var buf bytes.Buffer
	buf.Grow(2048)
	if err := writeWebhookBody(&buf, event, at, c, extra); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeWebhookBody writes webhookBody's body to buf.
func writeWebhookBody(buf *bytes.Buffer, event string, at time.Time, c Call, extra map[string]any) error {
	customer, number, numberID := c.CallerPhone, c.AgentPhone, c.NumberID
	if c.Direction == DirectionOutbound {
		customer, number = c.AgentPhone, c.CallerPhone
	}
	members := []bodyMember{
		{"call", webhookCall{Call: c, Type: callType(c)}},
		{"customer", webhookNumber{Number: customer}},
		{"phone_number", webhookPhoneNumber{ID: numberID, Number: number}},
		{"timestamp", at.UTC().Format("2006-01-02T15:04:05.000Z")},
		{"type", event},
	}
	for k, v := range extra {
		if i := slices.IndexFunc(members, func(m bodyMember) bool { return m.key == k }); i >= 0 {
			members[i].value = v
			continue
		}
		members = append(members, bodyMember{k, v})
	}
	slices.SortFunc(members, func(a, b bodyMember) int { return strings.Compare(a.key, b.key) })
	// One encoder writes every value into the body itself: no copy of
	// each value's encoding.
	enc := json.NewEncoder(buf)
	buf.WriteString(`{"message":{`)
	for i, m := range members {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(m.key); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode ends each value with a newline
		buf.WriteByte(':')
		if err := enc.Encode(m.value); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteString(`}}`)
	return nil
}

// body encodes a webhook body in a buffer kept for the next one and
// returns a copy of its exact size: a call's ten or so bodies (0.5 to
// 3 KiB) cost one allocation each, not a 2 KiB buffer and its regrowth.
func (m *Calls) body(event string, at time.Time, c Call, extra map[string]any) (json.RawMessage, error) {
	buf, _ := m.bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= 64<<10 { // an outsized report's buffer is not kept
			buf.Reset()
			m.bodies.Put(buf)
		}
	}()
	if err := writeWebhookBody(buf, event, at, c, extra); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// bodyMember is one member of a webhook body's message.
type bodyMember struct {
	key   string
	value any
}

// webhookNumber and webhookPhoneNumber are the body's customer and
// phone_number, with their members in sorted order as a map had them.
type webhookNumber struct {
	Number string `json:"number"`
}

type webhookPhoneNumber struct {
	ID     string `json:"id"`
	Number string `json:"number"`
}

// deliveries builds the outbox rows announcing one event of lc's call.
func (m *Calls) deliveries(lc *liveCall, event string, at time.Time, extra map[string]any) []WebhookDelivery {
	var out []WebhookDelivery
	var body json.RawMessage
	for _, t := range lc.webhooks {
		if !t.wants(event) {
			continue
		}
		if body == nil {
			c := lc.call
			if event != WebhookEndOfCallReport {
				c.Transfers = nil
			}
			b, err := m.body(event, at, c, extra)
			if err != nil {
				m.logger.Error("encode webhook body", "event", event, "err", err)
				return nil
			}
			body = b
		}
		id, err := NewID()
		if err != nil {
			m.logger.Error("webhook delivery id", "err", err)
			return out
		}
		out = append(out, WebhookDelivery{
			ID: id, CallID: lc.call.ID, AssistantID: t.assistantID, URL: t.url, EventType: event,
			Body: body, Status: DeliveryPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at,
		})
	}
	return out
}
