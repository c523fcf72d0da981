package core

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// TransferRequest asks for a live call's caller to be moved.
type TransferRequest struct {
	CallID      string
	Destination string // E.164 number or sip:/sips: URI
	Message     string
	RequestedBy string
	// Confirm, when set, asks the human behind the request about an
	// ad-hoc destination (see Confirmation); nil when they cannot be
	// asked, and the transfer policy decides. ConfirmVia says how they
	// are asked ("elicitation"), recorded as the transfer's confirmed_by.
	Confirm    ConfirmFunc
	ConfirmVia string
}

// Transfer moves the call's caller to the destination with a REFER and
// follows it to its outcome. onStep, when set, sees every step in order
// (requested, accepted, trying, ringing, and the final one) before
// Transfer returns. A failed transfer is returned as the transfer with
// status failed and a *Error with CodeTransferFailed: the caller is still
// connected and another transfer may follow.
//
// When ctx ends first, Transfer stops waiting and returns the transfer as
// it stands: the transfer itself goes on to its outcome (completed,
// failed, or failed on TransferTimeout), which is stored with the call.
// Nothing is left half done.
func (m *Calls) Transfer(ctx context.Context, req TransferRequest, onStep func(Transfer)) (Transfer, error) {
	if strings.TrimSpace(req.CallID) == "" {
		return Transfer{}, FieldError(CodeMissingField, "call_id", "call_id is required")
	}
	dest, err := ParseTarget("destination", req.Destination)
	if err != nil {
		return Transfer{}, err
	}
	if err := maxLen("message", req.Message, 1000); err != nil {
		return Transfer{}, err
	}
	lc := m.get(req.CallID)
	if lc == nil {
		return Transfer{}, m.notLive(ctx, req.CallID)
	}
	if err := m.allowCommand(lc); err != nil {
		return Transfer{}, err
	}

	lc.mu.Lock()
	t, referTo, q, err := m.beginLocked(ctx, lc, dest, req, false)
	if err == nil && q != nil {
		// An ad-hoc destination the human is asked about: the call's lock
		// is not held while they think, and everything is checked again
		// once they have answered.
		lc.mu.Unlock()
		yes, why := m.confirm(ctx, req, *q)
		lc.mu.Lock()
		if !yes {
			m.logger.InfoContext(ctx, "transfer destination refused", "rule", "user_confirmation", "destination", clip(dest.Target()), "call_id", lc.call.ID, "reason", why)
			if lc.call.Status == CallInProgress {
				m.recordRefusal(ctx, lc, dest, req, why)
			}
			lc.mu.Unlock()
			return Transfer{}, FieldError(CodeDestinationNotAllowed, "destination", "%s", why)
		}
		t, referTo, _, err = m.beginLocked(ctx, lc, dest, req, true)
	}
	if err != nil {
		lc.mu.Unlock()
		return Transfer{}, err
	}
	// Subscribe before the REFER leaves so that no step is missed, even
	// NOTIFYs that overtake the 202.
	sub := m.bus.SubscribeCall(lc.call.ID, func(e Event) bool { return e.Transfer != nil && e.Transfer.ID == t.ID })
	defer sub.Close()
	last := cloneTransfer(*t)
	lc.mu.Unlock()
	if onStep != nil {
		onStep(last)
	}

	go m.refer(lc, last.ID, referTo)

	for {
		select {
		case e, ok := <-sub.C:
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
			return last, nil
		}
	}
}

func transferError(t Transfer) error {
	switch t.Status {
	case TransferFailed:
		return &Error{Code: CodeTransferFailed, Message: fmt.Sprintf("transfer to %s failed: %s; the caller is still connected", t.Destination, t.Reason), SIPStatus: t.SIPStatus}
	case TransferCanceled:
		return &Error{Code: CodeCallNotActive, Message: "transfer canceled: " + t.Reason, SIPStatus: t.SIPStatus}
	}
	return nil
}

// notLive explains why a call id has no live call.
func (m *Calls) notLive(ctx context.Context, id string) error {
	c, err := m.calls.GetCall(ctx, id)
	if err != nil {
		if HasCode(err, CodeNotFound) {
			return FieldError(CodeNotFound, "call_id", "call %q not found", clip(id))
		}
		return err
	}
	return FieldError(CodeCallNotActive, "call_id", "call %s is %s", id, c.Status)
}

// beginLocked checks the call and the destination, records the transfer
// as requested, and returns it with the Refer-To URI; lc.mu is held. An
// ad-hoc destination the human must confirm first (req.Confirm set, not
// yet confirmed) is returned as a Confirmation, with nothing recorded.
func (m *Calls) beginLocked(ctx context.Context, lc *liveCall, dest Destination, req TransferRequest, confirmed bool) (*Transfer, string, *Confirmation, error) {
	if lc.call.Status != CallInProgress {
		return nil, "", nil, FieldError(CodeCallNotActive, "call_id", "call %s is %s; only a call in progress can be transferred", lc.call.ID, lc.call.Status)
	}
	if lc.active != nil {
		return nil, "", nil, FieldError(CodeConflict, "call_id", "call %s is already being transferred to %s", lc.call.ID, lc.active.Destination)
	}
	message := req.Message
	configured, err := m.configuredDestination(ctx, lc, dest)
	if err != nil {
		return nil, "", nil, err
	}
	// The transfer policy: ad-hoc, types, countries, SIP hosts, attempts.
	q, usedConfirmation, err := m.checkTransfer(ctx, lc, dest, req.Confirm != nil, confirmed)
	if err != nil {
		if HasCode(err, CodeDestinationNotAllowed) {
			m.recordRefusal(ctx, lc, dest, req, AsError(err).Message)
		}
		return nil, "", nil, err
	}
	if q != nil {
		return nil, "", q, nil
	}
	if configured != nil && message == "" {
		message = configured.Message
	}
	referTo, err := m.route(ctx, lc.call, dest)
	if err != nil {
		return nil, "", nil, err
	}
	id, err := NewID()
	if err != nil {
		return nil, "", nil, Internal("starting a transfer", err)
	}
	now := m.timestamp()
	t := &Transfer{
		ID: id, CallID: lc.call.ID, Destination: dest.Target(), DestinationType: dest.Type, ReferTo: referTo,
		Message: message, Status: TransferRequested, RequestedBy: req.RequestedBy,
		Steps:     []TransferStep{{Status: TransferRequested, At: now}},
		CreatedAt: now, UpdatedAt: now,
	}
	if usedConfirmation {
		t.ConfirmedBy = req.ConfirmVia
		if t.ConfirmedBy == "" {
			t.ConfirmedBy = ConfirmedByUser
		}
	}
	lc.call.Transfers = append(lc.call.Transfers, cloneTransfer(*t))
	lc.active = t
	// The first write decides: a transfer the store cannot record is not
	// started, so nothing is done that is not on record.
	sctx, cancel := storeContext(ctx)
	defer cancel()
	if err := m.calls.SaveTransfer(sctx, *t, m.transferDeliveries(lc, t)...); err != nil {
		lc.active = nil
		lc.call.Transfers = lc.call.Transfers[:len(lc.call.Transfers)-1]
		return nil, "", nil, Internal("storing the transfer", err)
	}
	tr := cloneTransfer(*t)
	m.bus.Publish(Event{Type: EventTransferStep, At: now, Call: snapshot(lc.call), Transfer: &tr})
	return t, referTo, nil, nil
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
		stored, err := m.store.GetAssistant(ctx, lc.call.AssistantID)
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

// route picks the Refer-To URI: a number goes through the phone number's
// transfer trunk, or without one back to where the call came from; a SIP
// URI goes as it is.
func (m *Calls) route(ctx context.Context, c Call, dest Destination) (string, error) {
	if dest.Type == DestinationSIP {
		return dest.SIPURI, nil
	}
	trunkID := c.TrunkID
	if trunkID == "" && c.NumberID != "" {
		n, err := m.store.GetPhoneNumber(ctx, c.NumberID)
		if err != nil && !HasCode(err, CodeNotFound) {
			return "", err
		}
		if err == nil && n.TransferTrunkID != nil {
			trunkID = *n.TransferTrunkID
		}
	}
	if trunkID != "" {
		t, err := m.store.GetTrunk(ctx, trunkID)
		if err != nil {
			return "", err
		}
		return TrunkURI(dest.Number, t), nil
	}
	if c.RemoteAddr == "" {
		return "", FieldError(CodeDestinationNotAllowed, "destination", "no transfer trunk for this call's number")
	}
	return "sip:" + dest.Number + "@" + c.RemoteAddr, nil
}

// TrunkURI is the SIP URI of a number reached through a trunk.
func TrunkURI(number string, t Trunk) string {
	host := t.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	scheme := "sip"
	if t.Transport == TransportTLS {
		scheme = "sips"
	}
	uri := fmt.Sprintf("%s:%s@%s:%d", scheme, number, host, t.Port)
	if t.Transport == TransportTCP {
		uri += ";transport=tcp"
	}
	return uri
}

// refer sends the REFER and applies its answer. It runs on the manager's
// background context: a cancelled MCP request does not abandon it.
func (m *Calls) refer(lc *liveCall, transferID, referTo string) {
	ctx, cancel := context.WithTimeout(m.bg, 32*time.Second)
	defer cancel()
	status, err := m.sig.Refer(ctx, lc.call.ID, referTo)
	lc.mu.Lock()
	defer lc.mu.Unlock()
	t := lc.active
	if t == nil || t.ID != transferID || t.Final() {
		return
	}
	switch {
	case err != nil:
		m.stepLocked(ctx, lc, TransferFailed, status, "the REFER was not answered: "+err.Error())
	case status >= 200 && status < 300:
		m.stepLocked(ctx, lc, TransferAccepted, status, "")
		lc.timeout = time.AfterFunc(m.cfg.TransferTimeout, func() { m.timeoutTransfer(lc, transferID) })
	default:
		m.stepLocked(ctx, lc, TransferFailed, status, referRejectReason(status))
	}
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

func (m *Calls) timeoutTransfer(lc *liveCall, transferID string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	t := lc.active
	if t == nil || t.ID != transferID || t.Final() {
		return
	}
	m.stepLocked(m.bg, lc, TransferFailed, 0, fmt.Sprintf("no final NOTIFY within %s", m.cfg.TransferTimeout))
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
