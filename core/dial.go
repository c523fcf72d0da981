package core

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"
)

// DialRequest places an outbound call from one of our numbers.
type DialRequest struct {
	// NumberID is the phone number the call comes from; its transfer
	// trunk carries the call and its assistant is the call's assistant.
	NumberID string
	// Destination is the E.164 number to call.
	Destination string
}

// Dial places an outbound call through the number's trunk and returns it
// once answered, held like an inbound call (it can be transferred and
// ended the same way). A call that is not answered is returned as an error
// with the SIP status; its record stays, as failed.
func (m *Calls) Dial(ctx context.Context, req DialRequest) (Call, error) {
	if strings.TrimSpace(req.NumberID) == "" {
		return Call{}, FieldError(CodeMissingField, "number_id", "number_id is required: the phone number the call comes from")
	}
	if err := m.checkDial(ctx, req); err != nil {
		return Call{}, err
	}
	if why := m.refusal(time.Now()); why != "" {
		return Call{}, dialRefused(why)
	}
	number, err := m.store.GetPhoneNumber(ctx, req.NumberID)
	if HasCode(err, CodeNotFound) {
		return Call{}, FieldError(CodeNotFound, "number_id", "phone number %q not found", clip(req.NumberID))
	}
	if err != nil {
		return Call{}, err
	}
	if number.TransferTrunkID == nil {
		return Call{}, FieldError(CodeInvalidRequest, "number_id", "phone number %s has no transfer_trunk_id: outbound calls go through that trunk", number.PhoneNumber)
	}
	trunk, err := m.store.GetTrunk(ctx, *number.TransferTrunkID)
	if err != nil {
		return Call{}, err
	}
	id, err := NewID()
	if err != nil {
		return Call{}, Internal("placing a call", err)
	}
	now := m.timestamp()
	call := Call{
		ID: id, Direction: DirectionOutbound, Status: CallDialing,
		CallerPhone: number.PhoneNumber, AgentPhone: req.Destination, NumberID: number.ID,
		CreatedAt: now, UpdatedAt: now, TrunkID: trunk.ID,
		RemoteAddr: hostPort(trunk), Node: m.nodeID(),
	}
	lc := &liveCall{call: call, announced: call.Status}
	if number.AssistantID != nil {
		lc.call.AssistantID = *number.AssistantID
		if a, err := m.store.GetAssistant(ctx, *number.AssistantID); err == nil {
			lc.webhooks = m.webhookTargets(&a)
		}
	} else {
		lc.webhooks = m.webhookTargets(nil)
	}
	call = lc.call
	if err := m.callStore.CreateCall(ctx, call, m.deliveries(lc, WebhookStatusUpdate, now, nil)...); err != nil {
		return Call{}, Internal("storing the call", err)
	}
	m.mu.Lock()
	m.live[id] = lc
	m.mu.Unlock()
	m.bus.Publish(Event{Type: EventCallStatus, At: now, Call: snapshot(call)})

	// The dial is bounded and not tied to the MCP request: a cancelled
	// request must not leave a half-placed call.
	dialCtx, cancel := context.WithTimeout(m.bg, 60*time.Second)
	defer cancel()
	err = m.sig.Dial(dialCtx, OutboundDial{CallID: id, To: TrunkURI(req.Destination, trunk), From: number.PhoneNumber, Trunk: trunk})
	if err != nil {
		e := AsError(err)
		lc.mu.Lock()
		if lc.call.Live() {
			lc.call.Error = e.Message
			m.endLocked(ctx, lc, EndFailed)
		}
		lc.mu.Unlock()
		if e.Code == CodeOverloaded {
			return Call{}, e // nothing was sent: the client may retry after e.RetryAfter
		}
		return Call{}, &Error{Code: CodeUnavailable, Message: "the call was not answered: " + e.Message, SIPStatus: e.SIPStatus, err: err}
	}
	m.CallAnswered(ctx, id) // no-op when the SIP layer reported it already
	return m.GetCall(ctx, id)
}

func hostPort(t Trunk) string {
	return net.JoinHostPort(strings.Trim(t.Host, "[]"), strconv.Itoa(t.Port))
}

// checkDial applies the deployment's rules to create_call's destination.
func (m *Calls) checkDial(ctx context.Context, req DialRequest) error {
	if err := checkDestinationNumber(m.numbers, "destination", req.Destination); err != nil {
		return err
	}
	_, err := m.transferPolicy().Require(ctx, m.store, "destination", Destination{Type: DestinationNumber, Number: req.Destination}, nil, "number_id", req.NumberID)
	return err
}
