package core

import (
	"context"
	"time"
)

// TransferCallSaver is a CallStore that can store a transfer step and the
// call's change it causes in one write (SaveTransfer and UpdateCall
// together, all or nothing). A transfer that completes changes its call
// (transferred): with a store that has it, that is one commit per
// completed transfer instead of two. Stores without it get the two writes.
type TransferCallSaver interface {
	SaveTransferAndCall(ctx context.Context, t Transfer, c Call, out ...WebhookDelivery) error
}

// saveTransferAndCall stores the transfer step t and the change to lc's
// call that change makes, with the webhook deliveries of both, and then
// publishes the step and the call's status, in that order and each as it
// was announced when they were two writes (the step's event and webhook
// show the call before the change); lc.mu is held. Steps of t left
// unstored (transfer_batch.go) go in the same write, published first. As
// with saveTransfer and saveCall, a failed write is logged and still
// published.
func (m *Calls) saveTransferAndCall(ctx context.Context, lc *liveCall, t *Transfer, change func()) {
	saver, ok := m.callStore.(TransferCallSaver)
	if !ok {
		m.saveTransfer(ctx, lc, t)
		change()
		m.saveCall(ctx, lc)
		return
	}
	out, events := m.takeUnsaved(lc, t.ID)
	out = append(out, m.transferDeliveries(lc, t)...)
	stepped := m.stepEvent(lc, t)
	change()
	out = append(out, m.callChanged(lc)...)
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	for i := range lc.call.Transfers {
		if lc.call.Transfers[i].ID == t.ID {
			lc.call.Transfers[i] = cloneTransfer(*t)
		}
	}
	switch {
	case m.lostLocked(sctx, lc): // another node holds the call now: record nothing
	case !m.caughtUpLocked(sctx, lc, out):
	default:
		start := time.Now()
		err := m.retryStore(sctx, func() error { return saver.SaveTransferAndCall(sctx, *t, lc.call, out...) })
		m.slots.writes.took(start)
		if err != nil {
			m.logger.ErrorContext(ctx, "store transfer and call", "call_id", t.CallID, "transfer_id", t.ID, "err", err)
			m.keepLocked(ctx, lc, out, err)
		}
	}
	for _, e := range events {
		m.bus.Publish(e)
	}
	m.bus.Publish(stepped)
	m.bus.Publish(Event{Type: EventCallStatus, At: lc.call.UpdatedAt, Call: snapshot(lc.call)})
}
