package core

import "context"

// Steps that arrive together share a write. A transfer's steps in flight
// (accepted, trying, ringing) come in quick succession: the caller's UA
// sends its first NOTIFY right after its 202, and the NOTIFYs that follow
// as soon as each is answered, which the SIP layer does before it reports
// the step (the answer says the NOTIFY arrived, not that it is stored).
// When such a step is applied while the report of a later one is already
// in hand (the rest of a batch of NOTIFYs from the SIP layer, or a
// TransferProgress waiting for the call's lock), it is not written on its
// own: its webhook rows and event are kept, and the next write of the
// transfer stores the transfer with them and publishes their events
// first, in order. So nothing is announced before it is stored: the step
// is neither in the call's record (lc.call.Transfers, what get_call
// reads) nor on the bus until that write; only lc.active, the state the
// next step is applied to, runs ahead of the store.
//
// Whoever leaves a step unstored has a report after it that takes the
// call's lock: TransferProgress stores what is left when it lets the
// lock go, whatever its reports made of the transfer. Requested (its
// REFER waits for it) and final steps are always written at once.

// unsavedStep is a step applied to the active transfer and not yet
// stored: its webhook rows and its event.
type unsavedStep struct {
	transfer Transfer // the transfer as of the step
	out      []WebhookDelivery
	event    Event
}

// leaveUnsavedLocked keeps t's current step (in flight) for the next
// write when a later report is already in hand, and says whether it did;
// lc.mu is held.
func (m *Calls) leaveUnsavedLocked(lc *liveCall, t *Transfer) bool {
	if t.Status == TransferRequested || t.Final() || (!lc.reporting && lc.notifying.Load() == 0) {
		return false
	}
	if len(lc.unsaved) > 0 && lc.unsaved[0].transfer.ID != t.ID {
		return false // cannot happen: a transfer's steps are stored before another starts
	}
	lc.unsaved = append(lc.unsaved, unsavedStep{
		transfer: cloneTransfer(*t), out: m.transferDeliveries(lc, t), event: m.stepEvent(lc, t),
	})
	return true
}

// takeUnsaved hands over the webhook rows and events of the steps of
// transfer id left unstored, for the write of that transfer about to be
// made; lc.mu is held.
func (m *Calls) takeUnsaved(lc *liveCall, id string) ([]WebhookDelivery, []Event) {
	if len(lc.unsaved) == 0 || lc.unsaved[0].transfer.ID != id {
		return nil, nil
	}
	var out []WebhookDelivery
	events := make([]Event, 0, len(lc.unsaved)+1)
	for _, u := range lc.unsaved {
		out = append(out, u.out...)
		events = append(events, u.event)
	}
	lc.unsaved = nil
	return out, events
}

// storeUnsavedLocked writes the steps left unstored, if any: the
// transfer as of the last of them; lc.mu is held. A later write of the
// transfer would have taken them, so that is the transfer's latest state.
func (m *Calls) storeUnsavedLocked(ctx context.Context, lc *liveCall) {
	if len(lc.unsaved) == 0 {
		return
	}
	t := lc.unsaved[len(lc.unsaved)-1].transfer
	m.writeTransfer(ctx, lc, &t, false)
}
