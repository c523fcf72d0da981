package core

import (
	"context"
	"net/netip"
	"strings"
	"time"
)

// normalizeCalled turns a Request-URI user into E.164: carriers send the
// number with or without the +.
func normalizeCalled(numbers *numberCache, user string) (string, bool) {
	user = strings.TrimSpace(user)
	if !strings.HasPrefix(user, "+") {
		user = "+" + user
	}
	if _, err := numbers.parse("to", user); err != nil {
		return "", false
	}
	return user, true
}

// sourceAllowed reports whether an inbound INVITE may come from src: an
// allowed network, the host of the number's trunk, or the host of any
// other trunk (a carrier trunk carries calls for many numbers). Trunks
// whose inbound_auth is digest are not recognised by their address.
func (m *Calls) sourceAllowed(ctx context.Context, src netip.Addr, trunk *Trunk) bool {
	src = src.Unmap()
	for _, p := range m.cfg.AllowedSources {
		if p.Contains(src) {
			return true
		}
	}
	if trunk != nil && ipAuth(*trunk) && m.trunkIs(ctx, *trunk, src) {
		return true
	}
	for p := (Page{Limit: MaxPageLimit}); ; p.Offset += p.Limit {
		trunks, total, err := m.store.ListTrunks(ctx, p)
		if err != nil {
			m.logger.ErrorContext(ctx, "list trunks", "err", err)
			return false
		}
		for _, t := range trunks {
			if ipAuth(t) && m.trunkIs(ctx, t, src) {
				return true
			}
		}
		if p.Offset+len(trunks) >= total || len(trunks) == 0 {
			return false
		}
	}
}

// ipAuth reports whether the trunk's calls are recognised by address.
func ipAuth(t Trunk) bool { return t.InboundAuth != InboundAuthDigest }

// digestAllowed decides on an INVITE from a source not otherwise allowed,
// for a number whose trunk authenticates by digest: nil when its
// credentials are the trunk's, else the refusal (a challenge when it
// carried none).
func (m *Calls) digestAllowed(ctx context.Context, inv InboundInvite, trunk Trunk) *OfferDecision {
	if inv.Authorization == "" || inv.VerifyDigest == nil {
		m.logger.InfoContext(ctx, "inbound call challenged: digest required", "source", inv.Source.String(), "called", inv.Called, "trunk_id", trunk.ID)
		return &OfferDecision{RejectStatus: 401, RejectReason: "Unauthorized", Challenge: true}
	}
	if trunk.Username == "" || trunk.Password == "" || !inv.VerifyDigest(trunk.Username, trunk.Password) {
		m.logger.InfoContext(ctx, "inbound call refused: wrong digest credentials", "source", inv.Source.String(), "called", inv.Called, "trunk_id", trunk.ID)
		return &OfferDecision{RejectStatus: 403, RejectReason: "Forbidden"}
	}
	return nil
}

// trunkIs reports whether src is the trunk's host.
func (m *Calls) trunkIs(ctx context.Context, t Trunk, src netip.Addr) bool {
	if ip, err := netip.ParseAddr(strings.Trim(t.Host, "[]")); err == nil {
		return ip.Unmap() == src
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := m.resolver.LookupNetIP(ctx, "ip", t.Host)
	if err != nil {
		m.logger.WarnContext(ctx, "resolve trunk host", "host", t.Host, "err", err)
		return false
	}
	for _, a := range addrs {
		if a.Unmap() == src {
			return true
		}
	}
	return false
}

// OfferCall decides on an inbound INVITE.
func (m *Calls) OfferCall(ctx context.Context, inv InboundInvite) OfferDecision {
	called, ok := normalizeCalled(m.numbers, inv.Called)
	var number PhoneNumber
	var err error
	if ok {
		number, err = m.calledNumber(ctx, called)
	}
	var trunk *Trunk
	if ok && err == nil && number.TransferTrunkID != nil {
		if t, terr := m.store.GetTrunk(ctx, *number.TransferTrunkID); terr == nil {
			trunk = &t
		}
	}
	// The source is checked before anything about the number is said, so
	// a scanner learns nothing of which numbers exist.
	if !m.sourceAllowed(ctx, inv.Source.Addr(), trunk) {
		if trunk == nil || ipAuth(*trunk) {
			m.logger.InfoContext(ctx, "inbound call refused: source not allowed", "source", inv.Source.String(), "called", inv.Called)
			return OfferDecision{RejectStatus: 403, RejectReason: "Forbidden"}
		}
		// The number's trunk authenticates by digest: any source that
		// answers the challenge with the trunk's credentials.
		if d := m.digestAllowed(ctx, inv, *trunk); d != nil {
			return *d
		}
	}
	if !ok || HasCode(err, CodeNotFound) {
		return OfferDecision{RejectStatus: 404, RejectReason: "Not Found"}
	}
	if err != nil {
		m.logger.ErrorContext(ctx, "look up called number", "err", err)
		return OfferDecision{RejectStatus: 503, RejectReason: "Service Unavailable"}
	}
	var current *Assistant
	if number.AssistantID != nil {
		a, err := m.store.GetAssistant(ctx, *number.AssistantID)
		if err != nil {
			m.logger.ErrorContext(ctx, "look up the number's assistant", "err", err)
		} else {
			current = &a
		}
	}
	setup := m.askForAssistant(ctx, number, current, inv)
	id, err := NewID()
	if err != nil {
		return OfferDecision{RejectStatus: 500, RejectReason: "Server Internal Error"}
	}
	now := m.timestamp()
	call := Call{
		ID: id, Direction: DirectionInbound, Status: CallRinging,
		CallerPhone: inv.Caller, AgentPhone: number.PhoneNumber, NumberID: number.ID,
		CreatedAt: now, UpdatedAt: now, SIPCallID: inv.SIPCallID, RemoteAddr: inv.Source.String(),
		Node: m.nodeID(),
	}
	if setup.reject != "" {
		// The webhook said no: a record of the refusal, and 603 Decline.
		call.Status, call.Error, call.EndReason, call.EndedAt = CallRejected, setup.reject, EndRejected, &now
		if current != nil {
			call.AssistantID = current.ID
		}
		lc := &liveCall{call: call, webhooks: m.webhookTargets(current), announced: call.Status}
		if err := m.callStore.CreateCall(ctx, call, m.deliveries(lc, WebhookStatusUpdate, now, nil)...); err != nil {
			m.logger.ErrorContext(ctx, "store rejected call", "err", err)
		}
		m.bus.Publish(Event{Type: EventCallStatus, At: now, Call: snapshot(call)})
		m.logger.InfoContext(ctx, "inbound call rejected by assistant-request", "call_id", id, "reason", setup.reject)
		return OfferDecision{RejectStatus: 603, RejectReason: "Decline"}
	}
	a := setup.assistant
	if a == nil || (a.IsActive != nil && !*a.IsActive) {
		return OfferDecision{RejectStatus: 480, RejectReason: "Temporarily Unavailable"}
	}
	call.AssistantID, call.FirstMessage = a.ID, a.FirstMessage
	lc := &liveCall{call: call, webhooks: m.webhookTargets(a), announced: call.Status, assistant: a}
	if err := m.callStore.CreateCall(ctx, call, m.deliveries(lc, WebhookStatusUpdate, now, nil)...); err != nil {
		m.logger.ErrorContext(ctx, "store new call", "err", err)
		return OfferDecision{RejectStatus: 503, RejectReason: "Service Unavailable"}
	}
	m.mu.Lock()
	m.live[id] = lc
	m.mu.Unlock()
	m.bus.Publish(Event{Type: EventCallStatus, At: now, Call: snapshot(call)})
	m.logger.InfoContext(ctx, "inbound call", "call_id", id, "called", number.PhoneNumber, "caller", inv.Caller)
	return OfferDecision{CallID: id, KeepState: true}
}
