package core

import (
	"context"
	"strings"
)

// transferPolicy is the policy of the call manager: the configured one,
// or the baseline with CallsConfig.AllowAdhocTransfers.
func (m *Calls) transferPolicy() *Policy {
	if m.cfg.Policy != nil {
		return m.cfg.Policy
	}
	return baselinePolicy(m.cfg.AllowAdhocTransfers, m.logger)
}

// checkTransfer applies the transfer policy to a transfer of lc's call;
// lc.mu is held. A refusal is logged and returned; nothing is sent.
//
// With askable (the request can ask the human), an ad-hoc destination
// that passes every other rule is not decided by the ad-hoc rule: unless
// confirmed, checkTransfer returns the Confirmation to put to the human;
// once confirmed, it is allowed and usedConfirmation is true.
func (m *Calls) checkTransfer(ctx context.Context, lc *liveCall, dest Destination, askable, confirmed bool) (q *Confirmation, usedConfirmation bool, err error) {
	a, err := m.callAssistant(ctx, lc)
	if err != nil {
		return nil, false, err
	}
	p := m.transferPolicy()
	if v := p.CheckAttempts(a, attempted(lc.call.Transfers)); !v.Allowed {
		return nil, false, p.enforce(ctx, v, "call_id", dest.Target(), "call_id", lc.call.ID)
	}
	v, err := p.check(ctx, m.store, "destination", dest, a, false)
	if err != nil {
		return nil, false, err
	}
	// The ad-hoc rule is the last one: a verdict naming it passed all the
	// others.
	if askable && v.Rule == RuleAdhoc && !adhocForbidden(a) {
		if confirmed {
			m.logger.InfoContext(ctx, "ad-hoc transfer destination confirmed by the user", "destination", clip(dest.Target()), "call_id", lc.call.ID)
			return nil, true, nil
		}
		target := dest.Target()
		if v.E164 != "" && dest.Type == DestinationNumber {
			target = v.E164
		}
		return &Confirmation{Destination: target, Region: v.Region, NumberType: v.NumberType, Assistant: a.Name}, false, nil
	}
	return nil, false, p.enforce(ctx, v, "destination", dest.Target(), "call_id", lc.call.ID)
}

// callAssistant is the assistant whose rules a call's transfers follow,
// as configuredDestination finds it: the call's own (with any
// assistant-request override), or the stored one. A call without one (or
// whose assistant is gone) gets an assistant with no destinations, so only
// ad-hoc transfers can pass.
func (m *Calls) callAssistant(ctx context.Context, lc *liveCall) (*Assistant, error) {
	if lc.assistant != nil {
		return lc.assistant, nil
	}
	if lc.call.AssistantID == "" {
		return &Assistant{}, nil
	}
	a, err := m.transferAssistant(ctx, lc.call.AssistantID)
	if HasCode(err, CodeNotFound) {
		return &Assistant{ID: lc.call.AssistantID}, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// attempted counts the transfers that went out (a REFER was sent);
// refusals recorded on the call are not attempts.
func attempted(ts []Transfer) int {
	n := 0
	for _, t := range ts {
		if t.ReferTo != "" {
			n++
		}
	}
	return n
}

// configuredDestination finds dest among the transfer destinations of
// the call's assistant: as the call began (with any assistant-request
// override), or as stored for a call placed without one.
func (m *Calls) configuredDestination(ctx context.Context, lc *liveCall, dest Destination) (*Destination, error) {
	a := lc.assistant
	if a == nil {
		if lc.call.AssistantID == "" {
			return nil, nil
		}
		stored, err := m.transferAssistant(ctx, lc.call.AssistantID)
		if HasCode(err, CodeNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		a = &stored
	}
	for _, d := range a.TransferDestinations() {
		if d.Type == dest.Type && strings.EqualFold(d.Target(), dest.Target()) {
			return &d, nil
		}
	}
	return nil, nil
}
