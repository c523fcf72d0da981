package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TransferRequest asks for a live call's caller to be moved.
type TransferRequest struct {
	CallID      string
	Destination string // E.164 number or sip:/sips: URI
	// FallbackDestinations are tried in order when the destination (and
	// each fallback before) fails: busy, no answer, refused, timed out.
	FallbackDestinations []string
	Message              string
	RequestedBy          string
	// Mode, SIPHeaders and Routing apply to every destination, over
	// what each has configured.
	Mode       string
	SIPHeaders map[string]string
	Routing    TransferRouting
	// What the server does on its own call to the human (warm, bridge),
	// over each destination's own: an extension to dial, waiting for the
	// human's voice, and the human accepting with a key. A nil boolean
	// leaves the destination's.
	Extension                 string
	WaitForHumanSpeech        *bool
	HumanSpeechTimeoutSeconds int
	RequireAccept             *bool
	AcceptPrompt              string
	AcceptTimeoutSeconds      int
	// VoicemailAction (VoicemailNone, VoicemailStop,
	// VoicemailLeaveMessage) overrides every destination's: what a
	// voicemail box answering a warm or bridge transfer gets.
	VoicemailAction string
	// Summary is told to the human on a warm transfer and sent as
	// X-Transfer-Summary.
	Summary string
	// FallbackMessage is said to the caller when a warm or bridge
	// transfer's last destination found nobody; DefaultFallbackMessage
	// when empty.
	FallbackMessage string
	// Confirm, when set, asks the human behind the request about an
	// ad-hoc destination (see Confirmation); nil when they cannot be
	// asked, and the transfer policy decides. ConfirmVia says how they
	// are asked ("elicitation"), recorded as the transfer's confirmed_by.
	Confirm    ConfirmFunc
	ConfirmVia string
}

// Transfer moves the call's caller to the destination, or failing that to
// each fallback destination in turn, and follows it to its outcome.
// onStep, when set, sees every step in order (requested, accepted, trying,
// ringing, and the final one; again from requested for each fallback)
// before Transfer returns. A failed transfer is returned as the transfer
// with status failed and a *Error with CodeTransferFailed: the caller is
// still connected and another transfer may follow.
//
// When ctx ends first, Transfer stops waiting and returns the transfer as
// it stands: the transfer itself goes on to its outcome (completed,
// failed, or failed on TransferTimeout), which is stored with the call.
// Nothing is left half done.
func (m *Calls) Transfer(ctx context.Context, req TransferRequest, onStep func(Transfer)) (Transfer, error) {
	if strings.TrimSpace(req.CallID) == "" {
		return Transfer{}, FieldError(CodeMissingField, "call_id", "call_id is required")
	}
	dests, err := parseTargets(m.numbers, req)
	if err != nil {
		return Transfer{}, err
	}
	if err := checkTransferRequest(req); err != nil {
		return Transfer{}, err
	}
	if ref := req.Routing.HoldAudioURL; ref != "" && !strings.HasPrefix(ref, "https://") {
		if err := CheckLocalAudio(ctx, m.cfg.AudioFiles, "hold_audio_url", ref); err != nil {
			return Transfer{}, err
		}
	}
	lc := m.get(req.CallID)
	if lc == nil {
		return Transfer{}, m.notLive(ctx, req.CallID)
	}
	if err := m.allowCommand(lc); err != nil {
		return Transfer{}, err
	}
	// Refused before the policy and routing reads: at capacity a refusal
	// must cost less than the work it declines.
	if m.slots.full() {
		return Transfer{}, overloaded(req.CallID, m.slots.max)
	}

	lc.mu.Lock()
	confirmed := make([]bool, len(dests))
	var t *Transfer
	for {
		var q *Confirmation
		var qi int
		t, q, qi, err = m.beginLocked(ctx, lc, dests, req, confirmed)
		if err != nil || q == nil {
			break
		}
		// An ad-hoc destination the human is asked about: the call's lock
		// is not held while they think, and everything is checked again
		// once they have answered.
		lc.mu.Unlock()
		yes, why := m.confirm(ctx, req, *q)
		lc.mu.Lock()
		if why == askLater {
			lc.mu.Unlock()
			return Transfer{}, &Error{Code: CodeDestinationNotAllowed, Param: targetParam(qi), err: ErrAskLater,
				Message: fmt.Sprintf("the user has not confirmed the transfer to %s yet", q.Destination)}
		}
		if !yes {
			m.logger.InfoContext(ctx, "transfer destination refused", "rule", "user_confirmation", "destination", clip(dests[qi].Target()), "call_id", lc.call.ID, "reason", why)
			if lc.call.Status == CallInProgress {
				m.recordRefusal(ctx, lc, dests[qi], req, why)
			}
			lc.mu.Unlock()
			return Transfer{}, FieldError(CodeDestinationNotAllowed, targetParam(qi), "%s", why)
		}
		confirmed[qi] = true
	}
	if err != nil {
		lc.mu.Unlock()
		return Transfer{}, err
	}
	// Subscribe before the REFER leaves so that no step is missed, even
	// NOTIFYs that overtake the 202.
	callID, transferID := lc.call.ID, t.ID
	steps := func(e Event) bool { return e.Transfer != nil && e.Transfer.ID == transferID }
	sub := m.bus.SubscribeCall(callID, steps)
	defer func() { sub.Close() }()
	last := cloneTransfer(*t)
	lc.mu.Unlock()
	// The attempt starts before the requested step is reported: onStep
	// may wait (an MCP progress notification waits for room in a full
	// session queue), and the REFER must not wait with it. The steps
	// the attempt brings queue in sub meanwhile.
	m.work.Go(func() { m.startAttempt(lc, transferID, 1) })
	if onStep != nil {
		onStep(last)
	}

	for {
		select {
		case e, ok := <-sub.C:
			if !ok && sub.Lagged() {
				// onStep fell behind (a slow client) and steps were
				// missed: catch up from the call's record, follow on.
				sub = m.bus.SubscribeCall(callID, steps)
				if cur, found := lc.transfer(transferID); found && len(cur.Steps) != len(last.Steps) {
					last = cur
					if onStep != nil {
						onStep(last)
					}
				}
				if last.Final() {
					return last, transferError(last)
				}
				continue
			}
			if !ok {
				return last, nil
			}
			last = *e.Transfer
			if onStep != nil {
				onStep(last)
			}
			if last.Final() {
				return last, transferError(last)
			}
		case <-ctx.Done():
			// The transfer as it stands: a final step and the end of the
			// call it causes are published together, and that end may end
			// ctx (the call's own, in the conversation loop) before this
			// loop has read the step.
			if cur, found := lc.transfer(transferID); found && len(cur.Steps) != len(last.Steps) {
				last = cur
				if onStep != nil {
					onStep(last)
				}
			}
			if last.Final() {
				return last, transferError(last)
			}
			return last, nil
		}
	}
}

// targetParam names the i-th target of a transfer request.
func targetParam(i int) string {
	if i == 0 {
		return "destination"
	}
	return indexed("fallback_destinations", i-1)
}

func transferError(t Transfer) error {
	switch t.Status {
	case TransferFailed:
		if strings.HasSuffix(t.Reason, endCallNote) {
			return &Error{Code: CodeTransferFailed, Message: fmt.Sprintf("transfer to %s failed: %s; the caller hears on_failure_message, then the call ends", t.Destination, t.Reason), SIPStatus: t.SIPStatus}
		}
		return &Error{Code: CodeTransferFailed, Message: fmt.Sprintf("transfer to %s failed: %s; the caller is still connected", t.Destination, t.Reason), SIPStatus: t.SIPStatus}
	case TransferCanceled:
		return &Error{Code: CodeCallNotActive, Message: "transfer canceled: " + t.Reason, SIPStatus: t.SIPStatus}
	}
	return nil
}

// notLive explains why a call id has no live call.
func (m *Calls) notLive(ctx context.Context, id string) error {
	c, err := m.callStore.GetCall(ctx, id)
	if err != nil {
		if HasCode(err, CodeNotFound) {
			return FieldError(CodeNotFound, "call_id", "call %q not found", clip(id))
		}
		return err
	}
	return FieldError(CodeCallNotActive, "call_id", "call %s is %s", id, c.Status)
}

// beginLocked checks the call and every destination, records the
// transfer as requested, and keeps the plan of its attempts on lc; lc.mu
// is held. Every destination passes the transfer policy before the first
// is tried. An ad-hoc destination the human must confirm first
// (req.Confirm set, confirmed[i] not yet) is returned as a Confirmation
// with its index, with nothing recorded.
func (m *Calls) beginLocked(ctx context.Context, lc *liveCall, dests []Destination, req TransferRequest, confirmed []bool) (*Transfer, *Confirmation, int, error) {
	if lc.call.Status != CallInProgress {
		return nil, nil, 0, FieldError(CodeCallNotActive, "call_id", "call %s is %s; only a call in progress can be transferred", lc.call.ID, lc.call.Status)
	}
	if m.lostLocked(ctx, lc) {
		return nil, nil, 0, FieldError(CodeCallNotActive, "call_id", "call %s was taken over by another node while this node's lease had lapsed, and recorded ended (node_lost)", lc.call.ID)
	}
	if lc.active != nil {
		return nil, nil, 0, FieldError(CodeConflict, "call_id", "call %s is already being transferred to %s", lc.call.ID, lc.active.Destination)
	}
	plans := make([]attemptPlan, len(dests))
	usedConfirmation := false
	for i, dest := range dests {
		param := targetParam(i)
		configured, err := m.configuredDestination(ctx, lc, dest)
		if err != nil {
			return nil, nil, 0, err
		}
		// The transfer policy: ad-hoc, types, countries, SIP hosts, attempts.
		q, used, err := m.checkTransfer(ctx, lc, dest, req.Confirm != nil, confirmed[i])
		if err != nil {
			if HasCode(err, CodeDestinationNotAllowed) {
				m.recordRefusal(ctx, lc, dest, req, AsError(err).Message)
				if e := AsError(err); i > 0 && e.Param == "destination" {
					e.Param = param
				}
			}
			return nil, nil, 0, err
		}
		if q != nil {
			return nil, q, i, nil
		}
		usedConfirmation = usedConfirmation || used
		plan, err := planAttempt(param, req, dest, configured)
		if err != nil {
			return nil, nil, 0, err
		}
		idParam := "caller_id"
		if req.Routing.CallerID == "" {
			idParam = param + ".caller_id" // the destination's own
		}
		if err := m.checkCallerIDOwned(ctx, lc, idParam, plan.callerID); err != nil {
			return nil, nil, 0, err
		}
		if plan.uri, plan.trunk, err = m.routeTrunk(ctx, lc.call, dest); err != nil {
			return nil, nil, 0, err
		}
		plans[i] = plan
	}
	id, err := NewID()
	if err != nil {
		return nil, nil, 0, Internal("starting a transfer", err)
	}
	now := m.timestamp()
	first := plans[0]
	t := &Transfer{
		ID: id, CallID: lc.call.ID, Destination: first.dest.Target(), DestinationType: first.dest.Type, ReferTo: first.uri,
		Message: first.message, Status: TransferRequested, RequestedBy: req.RequestedBy,
		Mode: first.mode, Summary: req.Summary, Attempt: 1,
		Steps:     []TransferStep{{Status: TransferRequested, Attempt: 1, At: now}},
		CreatedAt: now, UpdatedAt: now,
	}
	for i, p := range plans {
		a := TransferAttempt{Destination: p.dest.Target(), DestinationType: p.dest.Type, Mode: p.mode, ReferTo: p.uri, Status: TransferRequested}
		m.describeRoutingLocked(&a, p)
		if p.voicemailAction != VoicemailNone {
			a.VoicemailAction = p.voicemailAction
		}
		for _, h := range p.headers {
			a.SIPHeaders = append(a.SIPHeaders, h.Name)
		}
		if i == 0 {
			a.StartedAt = &now
		}
		t.Attempts = append(t.Attempts, a)
	}
	if usedConfirmation {
		t.ConfirmedBy = req.ConfirmVia
		if t.ConfirmedBy == "" {
			t.ConfirmedBy = ConfirmedByUser
		}
	}
	if lc.behind && !m.catchUpFirst(ctx, lc) {
		m.slots.refused(time.Now())
		return nil, nil, 0, callBehind()
	}
	if err := m.slots.take(lc.call.ID, t.ID); err != nil {
		return nil, nil, 0, err
	}
	lc.call.Transfers = append(lc.call.Transfers, cloneTransfer(*t))
	lc.active = t
	// The first write decides: a transfer the store cannot record is not
	// started, so nothing is done that is not on record.
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	if err := m.callStore.SaveTransfer(sctx, *t, m.transferDeliveries(lc, t)...); err != nil {
		lc.active = nil
		lc.call.Transfers = lc.call.Transfers[:len(lc.call.Transfers)-1]
		m.slots.release(t.ID)
		if errors.Is(err, context.DeadlineExceeded) {
			m.slots.refused(time.Now()) // new calls' admission hears of it
			return nil, nil, 0, storeBehind(m.storeTimeout)
		}
		return nil, nil, 0, Internal("storing the transfer", err)
	}
	lc.plans = plans
	lc.fallbackMessage = req.FallbackMessage
	lc.lastAttempt = false
	lc.xferCtx, lc.xferCancel = context.WithCancel(m.bg)
	tr := cloneTransfer(*t)
	m.bus.Publish(Event{Type: EventTransferStep, At: now, Call: snapshot(lc.call), Transfer: &tr})
	return t, nil, 0, nil
}

// sendRefer sends an attempt's REFER, blind or warm alike, and applies
// its answer. It waits in ctx, the transfer's own context: not the MCP
// request's (a cancelled request does not abandon the transfer), and
// ended with the transfer or its call, which withdraws the wait.
func (m *Calls) sendRefer(ctx context.Context, lc *liveCall, transferID string, n int, target ReferTarget) {
	rctx, cancel := context.WithTimeout(ctx, sipTransactionTimeout)
	status, err := m.sig.ReferTo(rctx, lc.call.ID, target)
	cancel()
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.current(transferID, n) == nil {
		return
	}
	switch {
	case callGone(err):
		m.armTimeoutLocked(lc, transferID, n)
	case err != nil:
		m.stepLocked(m.bg, lc, TransferFailed, status, "the REFER was not answered: "+err.Error())
	case status >= 200 && status < 300:
		m.stepLocked(m.bg, lc, TransferAccepted, status, "")
		m.armTimeoutLocked(lc, transferID, n)
	default:
		m.stepLocked(m.bg, lc, TransferFailed, status, referRejectReason(status))
	}
}

// armTimeoutLocked bounds the wait for the final NOTIFY of an accepted
// REFER: the attempt's ring timeout, else VOICEDOCK_TRANSFER_TIMEOUT;
// lc.mu is held.
func (m *Calls) armTimeoutLocked(lc *liveCall, transferID string, n int) {
	if lc.timeout != nil {
		lc.timeout.Stop()
	}
	d, ring := m.cfg.TransferTimeout, false
	if len(lc.plans) >= n && lc.plans[n-1].ringSeconds != 0 {
		d, ring = lc.plans[n-1].ringTimeout(d), true
	}
	lc.timeout = m.work.AfterFunc(d, func() { m.timeoutTransfer(lc, transferID, n, d, ring) })
}

func referRejectReason(status int) string {
	switch status {
	case 405, 501:
		return "the caller's side does not support REFER"
	case 603, 403:
		return "the caller's side declined the REFER"
	case 481:
		return "the call no longer exists on the caller's side"
	}
	return fmt.Sprintf("the REFER was refused with %d", status)
}

// timeoutTransfer fails a blind attempt whose REFER brought no final
// NOTIFY within d: nobody answered (on_failure applies), or the caller's
// side never said.
func (m *Calls) timeoutTransfer(lc *liveCall, transferID string, n int, d time.Duration, ring bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.current(transferID, n) == nil {
		return
	}
	reason := fmt.Sprintf("no final NOTIFY within %s", d)
	if ring {
		reason = fmt.Sprintf("the destination did not answer within %s (ring_timeout_seconds; no final NOTIFY)", d)
	}
	lc.ringTimedOut = true
	m.stepLocked(m.bg, lc, TransferFailed, 0, reason)
}

// recordRefusal keeps a refused transfer on the call's record, and
// announces it, so that an assistant talked into dialling somewhere it
// must not is visible to whoever watches the events; lc.mu is held.
func (m *Calls) recordRefusal(ctx context.Context, lc *liveCall, dest Destination, req TransferRequest, why string) {
	id, err := NewID()
	if err != nil {
		return
	}
	now := m.timestamp()
	reason := "refused by the transfer policy: " + why
	t := Transfer{
		ID: id, CallID: lc.call.ID, Destination: dest.Target(), DestinationType: dest.Type,
		Message: req.Message, Status: TransferFailed, Reason: reason, RequestedBy: req.RequestedBy,
		Steps: []TransferStep{
			{Status: TransferRequested, At: now},
			{Status: TransferFailed, Reason: reason, At: now},
		},
		CreatedAt: now, UpdatedAt: now, EndedAt: &now,
	}
	lc.call.Transfers = append(lc.call.Transfers, cloneTransfer(t))
	if err := m.saveTransfer(ctx, lc, &t); err != nil {
		m.logger.ErrorContext(ctx, "store refused transfer", "call_id", lc.call.ID, "err", err)
	}
}

// transfer returns the call's record of a transfer.
func (lc *liveCall) transfer(id string) (Transfer, bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, t := range lc.call.Transfers {
		if t.ID == id {
			return cloneTransfer(t), true
		}
	}
	return Transfer{}, false
}
