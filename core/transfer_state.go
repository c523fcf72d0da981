package core

import (
	"context"
	"time"
)

// TransferProgress applies a NOTIFY's sipfrag to the call's transfer.
func (m *Calls) TransferProgress(ctx context.Context, callID string, p ReferProgress) {
	lc := m.get(callID)
	if lc == nil {
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	t := lc.active
	if t == nil || t.Final() {
		// A NOTIFY after the outcome (a retransmission, or a UA that
		// keeps the subscription active) changes nothing.
		return
	}
	switch {
	case p.Status >= 200 && p.Status < 300:
		m.stepLocked(ctx, lc, TransferCompleted, p.Status, "")
	case p.Status >= 300:
		m.stepLocked(ctx, lc, TransferFailed, p.Status, failureReason(p.Status, p.Reason))
	case p.Status == 180 || p.Status == 183:
		m.stepLocked(ctx, lc, TransferRinging, p.Status, "")
	default:
		m.stepLocked(ctx, lc, TransferTrying, p.Status, "")
	}
}

func failureReason(status int, phrase string) string {
	switch status {
	case 486, 600:
		return "the destination is busy"
	case 480, 408:
		return "the destination did not answer"
	case 404, 484, 604:
		return "the destination does not exist"
	case 603:
		return "the destination declined the call"
	case 403:
		return "the transfer was refused"
	}
	if phrase != "" {
		return "the destination answered " + phrase
	}
	return "the transfer failed"
}

// stepLocked moves the active transfer to status, stores and publishes the
// step, and carries out what the status implies; lc.mu is held.
func (m *Calls) stepLocked(ctx context.Context, lc *liveCall, status string, sipStatus int, reason string) {
	t := lc.active
	if t == nil || t.Final() || transferRank(status) < transferRank(t.Status) ||
		(status == t.Status && !t.Final() && sipStatus == t.SIPStatus) {
		return
	}
	now := m.timestamp()
	t.Status, t.UpdatedAt = status, now
	if sipStatus != 0 {
		t.SIPStatus = sipStatus
	}
	if reason != "" {
		t.Reason = reason
	}
	t.Steps = append(t.Steps, TransferStep{Status: status, SIPStatus: sipStatus, Reason: reason, At: now})
	if t.Final() {
		t.EndedAt = &now
		if lc.timeout != nil {
			lc.timeout.Stop()
			lc.timeout = nil
		}
	}
	m.saveTransfer(ctx, lc, t)
	switch status {
	case TransferCompleted:
		// The caller is with the destination now: leave the call.
		lc.call.Status = CallTransferred
		lc.call.EndReason = EndTransferred
		m.saveCall(ctx, lc)
		m.hangupAsync(lc.call.ID)
	case TransferFailed, TransferCanceled:
		lc.active = nil // the caller stays with the assistant
	}
	m.logger.InfoContext(ctx, "transfer step", "call_id", t.CallID, "transfer_id", t.ID, "status", status, "sip_status", sipStatus, "reason", reason)
}

// hangupAsync sends BYE without holding the call's lock: the SIP layer
// reports back through CallEnded, which takes it.
func (m *Calls) hangupAsync(callID string) {
	go func() {
		ctx, cancel := context.WithTimeout(m.bg, 32*time.Second)
		defer cancel()
		if err := m.sig.Hangup(ctx, callID); err != nil {
			m.logger.Warn("hang up", "call_id", callID, "err", err)
		}
	}()
}

// transferDeliveries announces a transfer step.
func (m *Calls) transferDeliveries(lc *liveCall, t *Transfer) []WebhookDelivery {
	return m.deliveries(lc, WebhookTransferUpdate, t.UpdatedAt, map[string]any{"transfer": cloneTransfer(*t)})
}

func nonNil(ts []Transfer) []Transfer {
	if ts == nil {
		return []Transfer{}
	}
	return ts
}
