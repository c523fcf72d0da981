package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// legGrace is how long a warm transfer's human leg may stay up after the
// caller has been joined to it: the human's phone ends it with BYE once
// the caller's INVITE with Replaces is answered (RFC 3891), and only a
// phone that does not is hung up by us.
const legGrace = 5 * time.Second

// current is the transfer's current attempt, nil when it has none.
func (t *Transfer) current() *TransferAttempt {
	if t.Attempt < 1 || t.Attempt > len(t.Attempts) {
		return nil
	}
	return &t.Attempts[t.Attempt-1]
}

// current returns the active transfer when it is transferID on attempt n
// and not final; lc.mu is held.
func (lc *liveCall) current(transferID string, n int) *Transfer {
	t := lc.active
	if t == nil || t.ID != transferID || t.Final() || t.Attempt != n {
		return nil
	}
	return t
}

// startAttempt carries out attempt n of the transfer in its mode. It runs
// in its own goroutine and takes lc.mu only to read and record: never
// across a network wait or audio.
func (m *Calls) startAttempt(lc *liveCall, transferID string, n int) {
	lc.mu.Lock()
	if lc.current(transferID, n) == nil || len(lc.plans) < n {
		lc.mu.Unlock()
		return
	}
	plan := lc.plans[n-1]
	ctx := lc.xferCtx
	lc.mu.Unlock()
	switch plan.mode {
	case ModeBridge:
		m.bridgeAttempt(ctx, lc, transferID, n, plan)
	case ModeWarm:
		m.warmAttempt(ctx, lc, transferID, n, plan)
	default:
		// Each attempt's message is said in full before its REFER goes:
		// the caller hears where they are going, then moves, rather than
		// being cut off mid-sentence by the REFER.
		err := m.sayUtterance(ctx, lc.call.ID, plan.announcement(m.voice(lc)))
		if HasCode(err, CodeCallNotActive) {
			return // the caller hung up during it: CallEnded cancels the transfer
		}
		lc.mu.Lock()
		gone := lc.current(transferID, n) == nil // the caller hung up meanwhile
		lc.mu.Unlock()
		if !gone {
			m.sendRefer(ctx, lc, transferID, n, ReferTarget{URI: plan.uri, Headers: plan.headers})
		}
	}
}

// bridgeAttempt calls the destination and, once it answers, relays the
// audio between the caller and it: the call is then transferred, with the
// server on both legs until either hangs up.
func (m *Calls) bridgeAttempt(ctx context.Context, lc *liveCall, transferID string, n int, plan attemptPlan) {
	callID, voice := lc.call.ID, m.voice(lc)
	if err := m.sayUtterance(ctx, callID, plan.announcement(voice)); HasCode(err, CodeCallNotActive) {
		return // the caller hung up during it: CallEnded cancels the transfer
	}
	// The caller hears ringback (or the destination's hold audio) while
	// the human's phone rings and while they are consulted, not silence;
	// the bridge stops it.
	consulting := plan.consult.active()
	if !m.holdCaller(ctx, lc, transferID, n, plan) {
		return
	}
	legID, status, reason, err := m.dialLeg(ctx, lc, transferID, n, plan)
	if err != nil {
		m.attemptFailed(ctx, lc, transferID, n, plan, status, reason)
		return
	}
	if consulting {
		// The human is told the summary only when they are asked
		// something: a plain bridge just connects.
		summary := ""
		if plan.consult.waitSpeech || plan.consult.requireAccept {
			lc.mu.Lock()
			if t := lc.current(transferID, n); t != nil {
				summary = t.Summary
			}
			lc.mu.Unlock()
		}
		if out := m.consult(ctx, lc, legID, plan, summary, voice); !out.ok {
			m.consultFailed(ctx, lc, transferID, n, plan, legID, out)
			return
		}
	}
	lc.mu.Lock()
	t := lc.current(transferID, n)
	if t == nil {
		lc.mu.Unlock()
		return // the caller hung up meanwhile: releaseTransferLocked hangs the leg up
	}
	if consulting && !(lc.legUp && lc.leg == legID) {
		lc.mu.Unlock()
		m.attemptFailed(ctx, lc, transferID, n, plan, 0, "the destination hung up before the caller was put through")
		return
	}
	defer lc.mu.Unlock()
	lc.bridged = true
	t.current().Bridged = true
	m.stepLocked(m.bg, lc, TransferCompleted, 200, "") // completedLocked starts the relay
}

// warmAttempt puts the caller on hold, calls the destination, tells the
// human the summary, and joins the caller to them with a REFER carrying
// Replaces; bridging when the caller's side refuses that. When nobody
// answers the caller comes off hold and hears why before the assistant
// carries on: the caller is never left alone on hold.
func (m *Calls) warmAttempt(ctx context.Context, lc *liveCall, transferID string, n int, plan attemptPlan) {
	callID, voice := lc.call.ID, m.voice(lc)
	if err := m.sayUtterance(ctx, callID, plan.announcement(voice)); HasCode(err, CodeCallNotActive) {
		return // the caller hung up during it: CallEnded cancels the transfer
	}
	if !m.holdCaller(ctx, lc, transferID, n, plan) {
		return
	}

	legID, status, reason, err := m.dialLeg(ctx, lc, transferID, n, plan)
	if err != nil {
		m.attemptFailed(ctx, lc, transferID, n, plan, status, reason)
		return
	}
	lc.mu.Lock()
	if lc.current(transferID, n) == nil {
		lc.mu.Unlock()
		return
	}
	m.stepLocked(m.bg, lc, TransferTrying, 200, "the destination answered; telling them who is calling")
	summary := lc.active.Summary
	lc.mu.Unlock()

	if out := m.consult(ctx, lc, legID, plan, summary, voice); !out.ok {
		m.consultFailed(ctx, lc, transferID, n, plan, legID, out)
		return
	}

	lc.mu.Lock()
	if lc.current(transferID, n) == nil {
		lc.mu.Unlock()
		return
	}
	up := lc.legUp && lc.leg == legID
	lc.mu.Unlock()
	if !up {
		m.attemptFailed(ctx, lc, transferID, n, plan, 0, "the destination hung up before the caller was put through")
		return
	}
	dlg, err := m.sig.Dialog(legID)
	// A caller's side that does not say it supports Replaces might follow
	// the REFER with a plain INVITE: the human would get a second call
	// while ours stays up. Such a caller is bridged instead.
	callerDlg, cerr := m.sig.Dialog(callID)
	lc.mu.Lock()
	t := lc.current(transferID, n)
	switch {
	case t == nil:
		lc.mu.Unlock()
		return
	case err != nil:
		m.stepLocked(m.bg, lc, TransferFailed, 0, "the destination's dialog is unknown: "+err.Error())
		lc.mu.Unlock()
		return
	case cerr == nil && !callerDlg.SupportsReplaces:
		m.bridgeInsteadLocked(m.bg, lc, 0, "the caller's side does not support Replaces")
		lc.mu.Unlock()
		return
	}
	t.current().ReferTo = dlg.RemoteTarget
	t.ReferTo = dlg.RemoteTarget
	lc.mu.Unlock()
	m.sendRefer(ctx, lc, transferID, n, ReferTarget{URI: dlg.RemoteTarget, Replaces: &dlg})
}

// holdCaller starts the caller's hold audio for attempt n and keeps
// what stops it on lc; false when the attempt is over already.
func (m *Calls) holdCaller(ctx context.Context, lc *liveCall, transferID string, n int, plan attemptPlan) bool {
	stop := m.hold(ctx, lc.call.ID, plan.holdAudioURL)
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.current(transferID, n) == nil {
		m.work.Go(stop)
		return false
	}
	lc.holdStop = stop
	return true
}

// callGone reports whether err says the call has ended at the SIP layer
// (the caller hung up as the REFER was to go): its CallEnded is on the
// way and cancels the transfer, which is neither failed (the assistant
// would be told the caller is still there) nor bridged. The transfer
// timeout is armed as a backstop.
func callGone(err error) bool {
	return err != nil && HasCode(err, CodeCallNotActive)
}

// bridgeInsteadLocked turns a failed warm attempt whose human is still on
// the line into a bridge: the caller's side refused the REFER or the
// Replaces, or never said how it went; lc.mu is held.
func (m *Calls) bridgeInsteadLocked(ctx context.Context, lc *liveCall, sipStatus int, reason string) bool {
	t := lc.active
	a := t.current()
	if a == nil || a.Mode != ModeWarm || lc.bridged || !lc.legUp || lc.leg == "" {
		return false
	}
	if lc.timeout != nil {
		lc.timeout.Stop()
		lc.timeout = nil
	}
	lc.bridged = true
	a.Bridged = true
	m.logger.InfoContext(ctx, "warm transfer bridged instead", "call_id", lc.call.ID, "transfer_id", t.ID, "sip_status", sipStatus, "reason", reason)
	m.stepLocked(ctx, lc, TransferCompleted, 200, "bridged by the server: "+reason)
	return true
}

// completedLocked leaves a transferred call: BYE to the caller after a
// REFER, the audio relayed when bridged, hold stopped and, after a warm
// transfer, the human's leg left to the Replaces; lc.mu is held.
func (m *Calls) completedLocked(lc *liveCall) {
	stop := lc.holdStop
	lc.holdStop = nil
	if lc.xferCancel != nil {
		lc.xferCancel()
		lc.xferCancel = nil
	}
	lc.plans = nil
	if lc.bridged {
		caller, leg := lc.call.ID, lc.leg
		m.work.Go(func() {
			if stop != nil {
				stop()
			}
			m.startBridge(caller, leg)
		})
		return
	}
	if stop != nil {
		m.work.Go(stop)
	}
	m.hangupAsync(lc.call.ID)
	if lc.leg != "" && lc.legUp {
		m.dropLegLater(lc.leg)
	}
}

// releaseTransferLocked undoes what a transfer that failed, was canceled
// or whose call ended still holds: its work, the caller's hold, and the
// human's leg (a bridged call's leg goes with the call); lc.mu is held.
func (m *Calls) releaseTransferLocked(lc *liveCall) {
	if lc.xferCancel != nil {
		lc.xferCancel()
		lc.xferCancel = nil
	}
	lc.plans = nil
	m.dropAttemptLocked(lc)
}

// dropAttemptLocked stops the current attempt's hold and hangs up its
// leg, unless the leg is a warm transfer's human already joined to the
// caller; lc.mu is held.
func (m *Calls) dropAttemptLocked(lc *liveCall) {
	if stop := lc.holdStop; stop != nil {
		lc.holdStop = nil
		m.work.Go(stop)
	}
	joined := lc.call.Status == CallTransferred && !lc.bridged
	if lc.leg != "" && lc.legUp && !joined {
		m.hangupAsync(lc.leg)
	}
	if lc.call.Status == CallInProgress {
		lc.leg, lc.legUp, lc.bridged = "", false, false
	}
}

// dialLeg places the server's own call to the attempt's destination,
// ringing at most the plan's dial timeout, and returns its id once
// answered; on failure the SIP status and reason.
func (m *Calls) dialLeg(ctx context.Context, lc *liveCall, transferID string, n int, plan attemptPlan) (string, int, string, error) {
	legID, err := NewID()
	if err != nil {
		return "", 0, "", err
	}
	lc.mu.Lock()
	t := lc.current(transferID, n)
	if t == nil {
		lc.mu.Unlock()
		return "", 0, "", errors.New("the transfer ended")
	}
	from := m.presentedNumber(lc, plan.callerID)
	// Presenting the caller's number, the call is forwarded from ours.
	diverted := ""
	if ours := m.presentedNumber(lc, CallerIDNumber); from != ours && from == m.presentedNumber(lc, CallerIDCaller) {
		diverted = ours
	}
	a := t.current()
	a.LegCallID, a.LegStatus, a.CallerID = legID, LegDialing, from
	lc.leg, lc.legUp = legID, false
	m.mu.Lock()
	m.legs[legID] = lc
	m.mu.Unlock()
	m.stepLocked(m.bg, lc, TransferTrying, 0, "")
	lc.mu.Unlock()

	ring := plan.ringTimeout(DefaultDialTimeout)
	dctx, cancel := context.WithTimeout(ctx, ring)
	err = m.sig.Dial(dctx, OutboundDial{CallID: legID, To: plan.uri, From: from, DivertedFrom: diverted, Trunk: plan.trunk, Headers: plan.headers})
	timedOut := errors.Is(dctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		m.mu.Lock()
		delete(m.legs, legID)
		m.mu.Unlock()
		e := AsError(err)
		switch {
		case timedOut:
			return legID, e.SIPStatus, fmt.Sprintf("the destination did not answer within %s", ring), err
		case ctx.Err() != nil:
			return legID, e.SIPStatus, "the transfer ended", err
		case e.SIPStatus >= 300:
			return legID, e.SIPStatus, failureReason(e.SIPStatus, ""), err
		}
		return legID, e.SIPStatus, e.Message, err
	}
	lc.mu.Lock()
	if lc.leg == legID {
		lc.legUp = true
		if t := lc.current(transferID, n); t != nil {
			t.current().LegStatus = LegAnswered
		}
	}
	lc.mu.Unlock()
	return legID, 200, "", nil
}

// consultFailed ends an attempt whose human did not accept the call or
// went away while consulted: their call is hung up at once (before the
// caller hears the fallback message), and the attempt recorded.
func (m *Calls) consultFailed(ctx context.Context, lc *liveCall, transferID string, n int, plan attemptPlan, legID string, out consultOutcome) {
	m.logger.InfoContext(ctx, "transfer attempt not accepted", "call_id", lc.call.ID, "leg_call_id", legID, "status", out.status, "reason", out.reason)
	lc.mu.Lock()
	current := lc.current(transferID, n) != nil
	up := lc.legUp && lc.leg == legID
	lc.mu.Unlock()
	if !current {
		return
	}
	if up {
		m.hangupAsync(legID)
	}
	m.attemptEnded(ctx, lc, transferID, n, plan, out.status, 0, out.reason)
}

// attemptFailed ends an attempt that found nobody: hold stops and, when
// the transfer ends here (no destination left, or on_failure says so), the
// caller hears why; then the failure is recorded (and the next
// destination tried, or the call ended, as on_failure says).
func (m *Calls) attemptFailed(ctx context.Context, lc *liveCall, transferID string, n int, plan attemptPlan, sipStatus int, reason string) {
	m.attemptEnded(ctx, lc, transferID, n, plan, TransferFailed, sipStatus, reason)
}

// attemptEnded is attemptFailed with the attempt's status: failed, or
// declined.
func (m *Calls) attemptEnded(ctx context.Context, lc *liveCall, transferID string, n int, plan attemptPlan, status string, sipStatus int, reason string) {
	lc.mu.Lock()
	t := lc.current(transferID, n)
	if t == nil {
		lc.mu.Unlock()
		return
	}
	if a := t.current(); a != nil && a.LegCallID != "" && a.LegStatus == LegDialing {
		a.LegStatus = LegFailed
	}
	stop := lc.holdStop
	lc.holdStop = nil
	final := n == len(t.Attempts) || lc.lastAttempt || plan.onFailureOn(status, sipStatus, false) != OnFailureNext
	msg := plan.failureMessage(lc.fallbackMessage)
	callID, voice := lc.call.ID, voiceLocked(lc)
	lc.mu.Unlock()
	if stop != nil {
		stop()
	}
	if final {
		m.say(ctx, callID, msg, voice)
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.current(transferID, n) != nil {
		lc.failureSaid = final
		m.stepLocked(m.bg, lc, status, sipStatus, reason)
	}
}

// presentedNumber is the caller id of the server's own call: our phone
// number, the caller's, or the E.164 of ours the plan names; lc.mu is
// held.
func (m *Calls) presentedNumber(lc *liveCall, choice string) string {
	ours, theirs := lc.call.AgentPhone, lc.call.CallerPhone
	if lc.call.Direction == DirectionOutbound {
		ours, theirs = theirs, ours
	}
	switch {
	case choice == CallerIDCaller && theirs != "":
		return theirs
	case strings.HasPrefix(choice, "+"):
		return choice // checked to be ours or the caller's (checkCallerIDOwned)
	}
	return ours
}

// legOwner is the call a transfer leg belongs to, nil when callID is not
// a leg.
func (m *Calls) legOwner(callID string) *liveCall {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.legs[callID]
}

// legEnded records the end of a transfer's own call and what follows from
// it: a bridged caller is hung up too; a human who hangs up before the
// caller was joined fails the attempt (warmAttempt sees it).
func (m *Calls) legEnded(ctx context.Context, lc *liveCall, legID, reason string) {
	m.mu.Lock()
	delete(m.legs, legID)
	m.mu.Unlock()
	lc.mu.Lock()
	defer lc.mu.Unlock()
	wasUp := lc.leg == legID && lc.legUp
	if lc.leg == legID {
		lc.legUp = false
	}
	status := LegEnded
	if !wasUp && lc.leg == legID {
		status = LegFailed
	}
	m.recordLegLocked(ctx, lc, legID, status)
	// Logged once stored: get_call shows it from here on.
	m.logger.InfoContext(ctx, "transfer leg ended", "call_id", lc.call.ID, "leg_call_id", legID, "reason", reason)
	if wasUp && lc.bridged && lc.call.Status == CallTransferred {
		// The human hung up a bridged call: the caller goes too.
		m.hangupAsync(lc.call.ID)
	}
}

// recordLegLocked stores a leg's new status on the attempt that placed
// it; lc.mu is held.
func (m *Calls) recordLegLocked(ctx context.Context, lc *liveCall, legID, status string) {
	if t := lc.active; t != nil {
		for i := range t.Attempts {
			if t.Attempts[i].LegCallID == legID {
				if t.Attempts[i].LegStatus == LegDialing || t.Attempts[i].LegStatus == LegAnswered {
					t.Attempts[i].LegStatus = status
					t.UpdatedAt = m.timestamp()
					m.saveTransfer(ctx, lc, t)
				}
				return
			}
		}
	}
	for i := range lc.call.Transfers {
		tr := cloneTransfer(lc.call.Transfers[i])
		for j := range tr.Attempts {
			a := &tr.Attempts[j]
			if a.LegCallID == legID && (a.LegStatus == LegDialing || a.LegStatus == LegAnswered) {
				a.LegStatus = status
				tr.UpdatedAt = m.timestamp()
				m.saveTransfer(ctx, lc, &tr)
				return
			}
		}
	}
}

// dropLegLater hangs up a warm transfer's human leg if the Replaces has
// not ended it within legGrace.
func (m *Calls) dropLegLater(legID string) {
	m.work.AfterFunc(legGrace, func() {
		if m.bg.Err() == nil && m.legOwner(legID) != nil {
			m.logger.Info("the transfer target kept the replaced call; hanging it up", "leg_call_id", legID)
			m.hangupAsync(legID)
		}
	})
}

// voice is the call's assistant's voice.
func (m *Calls) voice(lc *liveCall) *TTSConfig {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return voiceLocked(lc)
}

// say plays text to a call when the server has media; without it the step
// is skipped.
func (m *Calls) say(ctx context.Context, callID, text string, voice *TTSConfig) {
	_ = m.sayUtterance(ctx, callID, Utterance{Text: text, Voice: voice})
}

// sayUtterance plays u to a call, for at most maxPlayback. A message that
// cannot be played (no speech engine, a bad recording) is logged and the
// transfer goes on: a caller put through without the announcement is
// better off than one left waiting. The error is returned so that a
// caller gone during the message (CodeCallNotActive) stops the attempt.
func (m *Calls) sayUtterance(ctx context.Context, callID string, u Utterance) error {
	if strings.TrimSpace(u.Text) == "" && u.AudioURL == "" {
		return nil
	}
	if m.media == nil {
		m.logger.DebugContext(ctx, "no media: not saying", "call_id", callID, "text", clip(u.Text))
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, maxPlayback)
	defer cancel()
	err := m.speak(ctx, callID, u)
	if err != nil {
		m.logger.WarnContext(ctx, "say", "call_id", callID, "err", err)
	}
	return err
}

// announcement is what the caller hears before this attempt: the
// request's or destination's message, or the destination's recording.
func (p attemptPlan) announcement(voice *TTSConfig) Utterance {
	return Utterance{Text: p.message, AudioURL: p.audioURL, Voice: voice}
}

// hold starts hold audio on a call (audioURL looped, or a ringback tone
// when it is "" or cannot be played) and returns what stops it (a no-op
// without media or when hold could not start).
func (m *Calls) hold(ctx context.Context, callID, audioURL string) func() {
	if m.media == nil {
		m.logger.DebugContext(ctx, "no media: no hold audio", "call_id", callID)
		return func() {}
	}
	stop, err := m.media.Hold(ctx, callID, audioURL)
	if err != nil || stop == nil {
		m.logger.WarnContext(ctx, "hold", "call_id", callID, "err", err)
		return func() {}
	}
	return stop
}

// startBridge relays the audio of two answered calls until either ends;
// the signalling (legEnded, endLocked) ends the other.
func (m *Calls) startBridge(a, b string) {
	if m.media == nil {
		m.logger.Debug("no media: not relaying audio", "call_id", a, "leg_call_id", b)
		return
	}
	m.work.Go(func() {
		stats, err := m.media.Bridge(m.bg, a, b)
		m.logger.Info("bridge ended", "call_id", a, "leg_call_id", b, "caller_to_leg", stats.AToB, "leg_to_caller", stats.BToA, "err", err)
	})
}
