package core

import (
	"context"
	"fmt"
)

// EndServerRestart ends a call that was live when the process holding it
// stopped without ending it (killed, crashed, the machine lost power): the
// next start finds it and records it ended. Its open transfer is
// canceled for TransferStoppedReason (core/stopped.go's rules).
const EndServerRestart = "server_restart"

// RecoverAfterRestart ends every call a previous process left live in the
// store, and cancels its open transfers, exactly as a call ending now
// would be: each change stored with its webhook deliveries
// (transfer-update, status-update, end-of-call-report) in one write, then
// published. Call it once at start, before calls arrive. It returns how
// many calls it ended.
//
// What the previous process stored before it died was stored with its
// deliveries, so those are in the outbox and go out as usual; this adds
// only the endings it never got to write, once: a call it ended is not
// live and is not touched.
//
// First it writes what the previous process kept of calls the store did
// not take before it stopped (CallsConfig.KeptDir): a call it ended then
// is stored with its real end and its webhooks, and is not live here.
//
// On one node of several (JoinCluster first), only the calls this node's
// previous run held are its to end, and those of no node; the other
// nodes' are theirs, or their sweeps' once their lease runs out.
func (m *Calls) RecoverAfterRestart(ctx context.Context) (int, error) {
	if n, err := m.writeKeptCalls(ctx); err != nil {
		return 0, err
	} else if n > 0 {
		m.logger.WarnContext(ctx, "the store took the state of calls the previous run kept when it could not write it", "calls", n)
	}
	if m.node != nil {
		return m.recoverNodeCalls(ctx)
	}
	ended := 0
	seen := map[string]bool{}
	for _, status := range []string{CallRinging, CallDialing, CallInProgress} {
		for {
			list, _, err := m.callStore.ListCalls(ctx, CallFilter{Status: status, Page: Page{Limit: MaxPageLimit}})
			if err != nil {
				return ended, fmt.Errorf("find the calls of the previous run: %w", err)
			}
			progress := false
			for _, c := range list {
				if seen[c.ID] {
					continue // its end could not be stored; reported below
				}
				seen[c.ID] = true
				progress = true
				if err := m.recoverCall(ctx, c.ID, EndServerRestart); err != nil {
					return ended, err
				}
				ended++
			}
			if !progress {
				if len(list) > 0 {
					return ended, fmt.Errorf("the end of call %s could not be stored", list[0].ID)
				}
				break
			}
		}
	}
	return ended, nil
}

// recoverCall ends one call left live by a process that is gone, for
// reason (EndServerRestart, EndNodeLost), its open transfers first.
func (m *Calls) recoverCall(ctx context.Context, id, reason string) error {
	c, err := m.callStore.GetCall(ctx, id)
	if err != nil {
		return fmt.Errorf("read call %s of the previous run: %w", id, err)
	}
	var a *Assistant
	if c.AssistantID != "" {
		got, err := m.store.GetAssistant(ctx, c.AssistantID)
		switch {
		case err == nil:
			a = &got
		case HasCode(err, CodeNotFound):
			// Deleted since: its webhook is gone with it.
		default:
			return fmt.Errorf("read the assistant of call %s: %w", id, err)
		}
	}
	// The webhooks are the assistant's as configured now: those the call
	// started with were in the previous process's memory only.
	lc := &liveCall{call: c, announced: c.Status, webhooks: m.webhookTargets(a), assistant: a}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	// Its open transfers end as a restart ends them (Transfer.CancelStopped):
	// canceled for TransferStoppedReason (TransferNodeLostReason), the
	// human's leg the attempt placed ended with it; each step stored and
	// announced.
	why := TransferStoppedReason
	if reason == EndNodeLost {
		why = TransferNodeLostReason
	}
	for i := range c.Transfers {
		if t := c.Transfers[i]; !t.Final() {
			if a := t.current(); a != nil && (a.LegStatus == LegDialing || a.LegStatus == LegAnswered) {
				a.LegStatus = LegEnded
			}
			lc.active = &t
			m.stepLocked(ctx, lc, TransferCanceled, 0, why)
		}
	}
	lc.active = nil
	if err := m.endLockedErr(ctx, lc, reason); err != nil {
		return fmt.Errorf("end call %s left live: %w", id, err)
	}
	m.logger.WarnContext(ctx, "call left live by a process that is gone recorded as ended", "call_id", id, "reason", reason)
	return nil
}

// endLockedErr is endLocked for a call that is not in the live map,
// reporting whether its end was stored.
func (m *Calls) endLockedErr(ctx context.Context, lc *liveCall, reason string) error {
	m.endLocked(ctx, lc, reason)
	got, err := m.callStore.GetCall(ctx, lc.call.ID)
	if err != nil {
		return err
	}
	if got.Live() {
		return fmt.Errorf("still %s", got.Status)
	}
	return nil
}
