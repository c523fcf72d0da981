package core

import (
	"context"
	"fmt"
)

// TransferProgress applies NOTIFYs' sipfrags to the call's transfer, in
// order: the SIP layer hands over at once the NOTIFYs that arrived while
// it reported the ones before, and their steps are then stored in one
// write (transfer_batch.go).
func (m *Calls) TransferProgress(ctx context.Context, callID string, reports ...ReferProgress) {
	lc := m.get(callID)
	if lc == nil {
		return
	}
	lc.notifying.Add(1)
	lc.mu.Lock()
	lc.notifying.Add(-1)
	defer lc.mu.Unlock()
	defer m.storeUnsavedLocked(ctx, lc)
	defer func() { lc.reporting = false }()
	for i, p := range reports {
		t := lc.active
		if t == nil || t.Final() {
			// A NOTIFY after the outcome (a retransmission, or a UA that
			// keeps the subscription active) changes nothing.
			return
		}
		lc.reporting = i < len(reports)-1
		m.progressLocked(ctx, lc, p)
	}
}

// progressLocked applies one NOTIFY's sipfrag to the active transfer;
// lc.mu is held.
func (m *Calls) progressLocked(ctx context.Context, lc *liveCall, p ReferProgress) {
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

// stepLocked moves the active transfer's current attempt to status,
// stores and publishes the step, and carries out what the status implies;
// lc.mu is held. A failed attempt with a fallback destination left starts
// the next one instead of failing the transfer; a failed warm attempt
// whose human is still on the line is bridged instead. AttemptDeclined
// is a failure the attempt records as declined: the human said no, so it
// is never bridged.
func (m *Calls) stepLocked(ctx context.Context, lc *liveCall, status string, sipStatus int, reason string) {
	attemptStatus := status
	if status == AttemptDeclined || status == AttemptVoicemail {
		status = TransferFailed
	}
	t := lc.active
	if t == nil || t.Final() || transferRank(status) < transferRank(t.Status) ||
		(status == t.Status && sipStatus == t.SIPStatus) {
		return
	}
	// What follows a failure: the next destination, or the end of the
	// transfer, said to the caller, and of the call (on_failure).
	var after func()
	note := "" // what on_failure made of a failure, added to the reason
	// What the failing attempt's own code knew of its failure, for this
	// step only.
	timedOut, said := lc.ringTimedOut, lc.failureSaid
	lc.ringTimedOut, lc.failureSaid = false, false
	if status == TransferFailed && lc.call.Status == CallInProgress {
		if attemptStatus == TransferFailed && m.bridgeInsteadLocked(ctx, lc, sipStatus, reason) {
			return
		}
		action, plan := OnFailureNext, attemptPlan{}
		if t.Attempt >= 1 && len(lc.plans) >= t.Attempt {
			plan = lc.plans[t.Attempt-1]
			action = plan.onFailureOn(attemptStatus, sipStatus, timedOut)
		}
		if lc.lastAttempt && action == OnFailureBackToAssistant {
			// A message was left: the transfer ends here whatever
			// on_failure says, so back_to_assistant adds nothing; end_call
			// still ends the call once the caller has heard it.
			action = OnFailureNext
		}
		if action == OnFailureNext && t.Attempt < len(t.Attempts) && !lc.lastAttempt {
			m.advanceLocked(ctx, lc, attemptStatus, sipStatus, reason)
			return
		}
		if action != OnFailureNext {
			note = onFailureNote(action)
			if !lc.lastAttempt { // else marked not tried for the message left
				m.skipRemainingLocked(t, action)
			}
			msg, end := plan.failureMessage(lc.fallbackMessage), action == OnFailureEndCall
			after = func() { m.work.Go(func() { m.endAfterFailure(lc, msg, !said, end) }) }
		}
	}
	now := m.timestamp()
	t.Status, t.UpdatedAt = status, now
	if sipStatus != 0 {
		t.SIPStatus = sipStatus
	}
	if a := t.current(); a != nil {
		a.Status = attemptStatus
		if sipStatus != 0 {
			a.SIPStatus = sipStatus
		}
		if t.Final() {
			a.Reason, a.EndedAt = reason, &now
		}
	}
	if reason != "" {
		t.Reason = reason
		if status == TransferFailed && len(t.Attempts) > 1 {
			t.Reason = fmt.Sprintf("all %d destinations failed: %s", len(t.Attempts), describeAttempts(t.Attempts))
		}
		if note != "" {
			t.Reason = reason + note
		}
	}
	t.Steps = append(t.Steps, TransferStep{Status: status, Attempt: t.Attempt, SIPStatus: sipStatus, Reason: reason, At: now})
	if t.Final() {
		t.EndedAt = &now
		m.slots.release(t.ID)
		if lc.timeout != nil {
			lc.timeout.Stop()
			lc.timeout = nil
		}
	}
	switch status {
	case TransferCompleted:
		// The caller is with the destination now: leave the call, unless
		// the server itself bridges the two. The step and the call's
		// change are one write.
		m.saveTransferAndCall(ctx, lc, t, func() {
			lc.call.Status = CallTransferred
			lc.call.EndReason = EndTransferred
		})
		m.completedLocked(lc)
	case TransferFailed, TransferCanceled:
		m.saveTransfer(ctx, lc, t)
		lc.active = nil // the caller stays with the assistant
		m.releaseTransferLocked(lc)
	default:
		if m.leaveUnsavedLocked(lc, t) {
			break
		}
		m.saveTransfer(ctx, lc, t)
	}
	m.logger.InfoContext(ctx, "transfer step", "call_id", t.CallID, "transfer_id", t.ID, "attempt", t.Attempt, "status", status, "sip_status", sipStatus, "reason", reason)
	if after != nil {
		after()
	}
}

// advanceLocked records the current attempt as failed (or declined: its
// status) and starts the next; lc.mu is held.
func (m *Calls) advanceLocked(ctx context.Context, lc *liveCall, status string, sipStatus int, reason string) {
	t := lc.active
	now := m.timestamp()
	if lc.timeout != nil {
		lc.timeout.Stop()
		lc.timeout = nil
	}
	m.dropAttemptLocked(lc)
	a := t.current()
	a.Status, a.Reason, a.EndedAt = status, reason, &now
	if sipStatus != 0 {
		a.SIPStatus = sipStatus
	}
	t.Steps = append(t.Steps, TransferStep{Status: TransferFailed, Attempt: t.Attempt, SIPStatus: sipStatus, Reason: reason, At: now})
	t.Attempt++
	next := t.current()
	next.Status, next.StartedAt = TransferRequested, &now
	t.Status, t.SIPStatus, t.Reason, t.UpdatedAt = TransferRequested, 0, "", now
	t.Destination, t.DestinationType, t.ReferTo, t.Mode = next.Destination, next.DestinationType, next.ReferTo, next.Mode
	if p := lc.plans; len(p) >= t.Attempt {
		t.Message = p[t.Attempt-1].message
	}
	t.Steps = append(t.Steps, TransferStep{Status: TransferRequested, Attempt: t.Attempt,
		Reason: fmt.Sprintf("trying the next destination: %s %s", a.Destination, reason), At: now})
	m.saveTransfer(ctx, lc, t)
	m.logger.InfoContext(ctx, "transfer attempt failed; trying the next destination", "call_id", t.CallID, "transfer_id", t.ID,
		"failed", clip(a.Destination), "sip_status", sipStatus, "reason", reason, "next", clip(next.Destination), "attempt", t.Attempt)
	id, attempt := t.ID, t.Attempt
	m.work.Go(func() { m.startAttempt(lc, id, attempt) })
}

// hangupAsync sends BYE without holding the call's lock: the SIP layer
// reports back through CallEnded, which takes it.
func (m *Calls) hangupAsync(callID string) {
	m.work.Go(func() {
		ctx, cancel := context.WithTimeout(m.bg, sipTransactionTimeout)
		defer cancel()
		if err := m.sig.Hangup(ctx, callID); err != nil {
			m.logger.Warn("hang up", "call_id", callID, "err", err)
		}
	})
}

// transferDeliveries announces a transfer step. The body is encoded
// before this returns, so t needs no copy.
func (m *Calls) transferDeliveries(lc *liveCall, t *Transfer) []WebhookDelivery {
	return m.deliveries(lc, WebhookTransferUpdate, t.UpdatedAt, map[string]any{"transfer": *t})
}

func nonNil(ts []Transfer) []Transfer {
	if ts == nil {
		return []Transfer{}
	}
	return ts
}
